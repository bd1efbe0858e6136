package cli

import (
	"bytes"
	"context"
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vireo-dev/vireo/api/v1alpha1"
)

// watchNamespace calls draw once, then again whenever a Rollout, ReplicaSet,
// pod or AnalysisRun of the namespace (every namespace with "") changes, at
// most every interval, until ctx ends. draw writes a frame; a frame equal
// to the last one is not shown again.
func (e *env) watchNamespace(ctx context.Context, ns string, interval time.Duration, draw func(*bytes.Buffer) error) error {
	c, err := e.Client()
	if err != nil {
		return err
	}
	changed := make(chan struct{}, 1)
	opts := []client.ListOption{}
	if ns != "" {
		opts = append(opts, client.InNamespace(ns))
	}
	for _, list := range []client.ObjectList{&v1alpha1.RolloutList{}, &appsv1.ReplicaSetList{}, &corev1.PodList{}, &v1alpha1.AnalysisRunList{}} {
		w, err := c.Watch(ctx, list, opts...)
		if err != nil {
			return fmt.Errorf("watching %T: %w", list, err)
		}
		defer w.Stop()
		go func(w watch.Interface) {
			for range w.ResultChan() {
				select {
				case changed <- struct{}{}:
				default:
				}
			}
		}(w)
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
