package cli

import (
	"bytes"
	"context"
	"fmt"
	"time"

	"github.com/vireo-dev/vireo/internal/rolloutview"
)

// show prints one frame of draw, or with watch keeps redrawing it as the
// namespace changes (watchNamespace).
func (e *env) show(ctx context.Context, ns string, watch bool, draw func(*bytes.Buffer) error) error {
	if watch {
		return e.watchNamespace(ctx, ns, time.Second/4, draw)
	}
	var b bytes.Buffer
	if err := draw(&b); err != nil {
		return err
	}
	_, err := e.streams.Out.Write(b.Bytes())
	return err
}

// watchNamespace calls draw once, then again whenever a Rollout, ReplicaSet,
// pod or AnalysisRun of the namespace (every namespace with "") changes, at
// most every interval, until ctx ends. draw writes a frame; a frame equal
// to the last one is not shown again.
func (e *env) watchNamespace(ctx context.Context, ns string, interval time.Duration, draw func(*bytes.Buffer) error) error {
	c, err := e.Client()
	if err != nil {
		return err
	}
	changed, err := rolloutview.Watch(ctx, c, ns)
	if err != nil {
		return err
	}
	var last []byte
	first := true
	show := func() error {
		var frame bytes.Buffer
		if err := draw(&frame); err != nil {
			return err
		}
		if bytes.Equal(frame.Bytes(), last) {
			return nil
		}
		last = frame.Bytes()
		out := e.streams.Out
		if e.color() {
			fmt.Fprint(out, "\x1b[H\x1b[2J") // redraw in place
		} else if !first {
			fmt.Fprintln(out)
		}
		first = false
		_, err := out.Write(frame.Bytes())
		return err
	}
	if err := show(); err != nil {
		return err
	}
	tick := time.NewTicker(interval)
	defer tick.Stop()
	dirty := false
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-changed:
			dirty = true
		case <-tick.C:
			// Ages move on too: a terminal frame is redrawn each second.
			if dirty || e.color() {
				dirty = false
				if err := show(); err != nil {
					return err
				}
			}
		}
	}
}
