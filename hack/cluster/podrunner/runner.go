package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// ServingAnnotation marks a pod whose process answers; the live stack's kwok
// stages make such pods ready only once it is "true".
const ServingAnnotation = "sim.vireo.dev/serving"

// Want is what one pod asks of the runner: its process, bound to IP:Port.
type Want struct {
	UID   string
	Key   string // namespace/name
	IP    string
	Port  int
	Color string
}

// WantOf tells whether the runner serves the pod, and how: a Running pod,
// not being deleted, with an IP and a container of the image.
func WantOf(pod *corev1.Pod, image string) (Want, bool) {
	if pod.DeletionTimestamp != nil || pod.Status.Phase != corev1.PodRunning || pod.Status.PodIP == "" {
		return Want{}, false
	}
	for _, c := range pod.Spec.Containers {
		tag, ok := imageTag(c.Image, image)
		if !ok {
			continue
		}
		port := 8080
		if len(c.Ports) > 0 {
			port = int(c.Ports[0].ContainerPort)
		}
		return Want{UID: string(pod.UID), Key: pod.Namespace + "/" + pod.Name, IP: pod.Status.PodIP, Port: port, Color: tag}, true
	}
	return Want{}, false
}

// imageTag is the tag of ref when ref names the image (with any registry
// or path before it), as in ghcr.io/x/vireo-demo:green.
func imageTag(ref, image string) (string, bool) {
	name, tag, ok := strings.Cut(ref[strings.LastIndex(ref, "/")+1:], ":")
	if !ok || name != image || tag == "" {
		return "", false
	}
	return tag, true
}

// Addresses adds and removes addresses on the namespace's loopback device.
type Addresses interface {
	Add(ctx context.Context, ip string) error
	Remove(ctx context.Context, ip string) error
}

// Process is one running demo app.
type Process interface {
	// Exited is closed when the process has ended.
	Exited() <-chan struct{}
	// Stop ends it and waits.
	Stop()
}

// Starter starts the demo app for a pod and returns once it accepts
// connections on IP:Port, or fails.
type Starter interface {
	Start(ctx context.Context, w Want) (Process, error)
}

// Marker records on the pod that its process serves.
type Marker interface {
	MarkServing(ctx context.Context, w Want) error
}

type proc struct {
	Want
	p Process
	// marked is set once the pod carries the serving annotation.
	marked bool
	// drainUntil, when set, is when a process whose pod went away stops:
	// the proxy keeps sending to a pod for a moment after it is gone, as it
	// would to a real pod in its termination grace period.
	drainUntil time.Time
}

// Runner keeps one process per wanted pod. It is not safe for concurrent
// use: one goroutine calls Sync and Sweep.
type Runner struct {
	Addrs   Addresses
	Starter Starter
	Marker  Marker
	// Drain is how long a process serves after its pod goes away.
	Drain time.Duration
	// Targets, when set, is a Prometheus file_sd file listing every process.
	Targets string
	Now     func() time.Time
	Log     *log.Logger

	running  map[string]*proc // by pod key
	draining []*proc
}

func (r *Runner) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

// Sync brings the pod with this key to what it wants (ok false: nothing).
func (r *Runner) Sync(ctx context.Context, key string, w Want, ok bool) error {
	if r.running == nil {
		r.running = map[string]*proc{}
	}
	if cur := r.running[key]; cur != nil && (!ok || cur.Want != w) {
		delete(r.running, key)
		cur.drainUntil = r.now().Add(r.Drain)
		r.draining = append(r.draining, cur)
		r.Log.Printf("%s: pod gone or changed; %s:%d serves %s more", key, cur.IP, cur.Port, r.Drain)
	}
	if cur := r.running[key]; ok && cur != nil && !cur.marked {
		return r.mark(ctx, cur) // an earlier mark failed
	}
	if !ok || r.running[key] != nil {
		return r.writeTargets()
	}
	// kwok reuses IPs: whoever still holds this one gives it up now.
	r.draining = r.keep(r.draining, func(p *proc) bool { return p.IP != w.IP }, "its IP went to "+key)
	for k, p := range r.running {
		if p.IP == w.IP {
			delete(r.running, k)
			r.stop(ctx, p, "its IP went to "+key)
		}
	}
	if err := r.Addrs.Add(ctx, w.IP); err != nil {
		return fmt.Errorf("%s: adding %s: %w", key, w.IP, err)
	}
	p, err := r.Starter.Start(ctx, w)
	if err != nil {
		return fmt.Errorf("%s: starting %s on %s:%d: %w", key, w.Color, w.IP, w.Port, err)
	}
	cur := &proc{Want: w, p: p}
	r.running[key] = cur
	r.Log.Printf("%s: serving %s on %s:%d", key, w.Color, w.IP, w.Port)
	if err := r.writeTargets(); err != nil {
		return err
	}
	return r.mark(ctx, cur)
}

// mark tells the cluster the pod serves; on failure the pod's next sync
// tries again.
func (r *Runner) mark(ctx context.Context, p *proc) error {
	if err := r.Marker.MarkServing(ctx, p.Want); err != nil {
		return fmt.Errorf("%s: marking it serving: %w", p.Key, err)
	}
	p.marked = true
	return nil
}

// Sweep stops processes whose drain time is over and returns the keys of
// pods whose process ended by itself, to be synced again.
func (r *Runner) Sweep(ctx context.Context) []string {
	now := r.now()
	r.draining = r.keep(r.draining, func(p *proc) bool { return now.Before(p.drainUntil) }, "drained")
	var restart []string
	for k, p := range r.running {
		select {
		case <-p.p.Exited():
			r.Log.Printf("%s: process on %s:%d ended by itself; starting it again", k, p.IP, p.Port)
			delete(r.running, k)
			r.release(ctx, p)
			restart = append(restart, k)
		default:
		}
	}
	sort.Strings(restart)
	if len(restart) > 0 {
		if err := r.writeTargets(); err != nil {
			r.Log.Print(err)
		}
	}
	return restart
}

// StopAll stops every process and removes every address it added.
func (r *Runner) StopAll(ctx context.Context) {
	r.draining = r.keep(r.draining, func(*proc) bool { return false }, "shutting down")
	for k, p := range r.running {
		delete(r.running, k)
		r.stop(ctx, p, "shutting down")
	}
}

// keep stops the processes of list that keep rejects and returns the rest.
func (r *Runner) keep(list []*proc, keep func(*proc) bool, why string) []*proc {
	var out []*proc
	for _, p := range list {
		if keep(p) {
			out = append(out, p)
			continue
		}
		r.stop(context.Background(), p, why)
	}
	return out
}

func (r *Runner) stop(ctx context.Context, p *proc, why string) {
	p.p.Stop()
	r.Log.Printf("%s: stopped %s on %s:%d (%s)", p.Key, p.Color, p.IP, p.Port, why)
	r.release(ctx, p)
}

// release removes the process's IP unless another process holds it.
func (r *Runner) release(ctx context.Context, p *proc) {
	for _, q := range r.running {
		if q.IP == p.IP {
			return
		}
	}
	for _, q := range r.draining {
		if q != p && q.IP == p.IP {
			return
		}
	}
	if err := r.Addrs.Remove(ctx, p.IP); err != nil {
		r.Log.Printf("removing %s: %v", p.IP, err)
	}
}

// target is one entry of a Prometheus file_sd file.
type target struct {
	Targets []string          `json:"targets"`
	Labels  map[string]string `json:"labels"`
}

func (r *Runner) writeTargets() error {
	if r.Targets == "" {
		return nil
	}
	list := []target{}
	for _, p := range r.running {
		ns, name, _ := strings.Cut(p.Key, "/")
		list = append(list, target{
			Targets: []string{p.IP + ":" + strconv.Itoa(p.Port)},
			Labels:  map[string]string{"namespace": ns, "pod": name, "color": p.Color},
		})
	}
	sort.Slice(list, func(i, j int) bool { return list[i].Targets[0] < list[j].Targets[0] })
	data, err := json.MarshalIndent(list, "", "  ")
	if err != nil {
		return err
	}
	tmp := r.Targets + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Clean(r.Targets))
}
