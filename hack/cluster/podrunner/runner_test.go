package main

import (
	"context"
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"sort"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// host is a fake namespace: addresses on lo and listening processes.
type host struct {
	addrs     map[string]bool
	listening map[string]*fakeProc // by IP
	marked    []string
	markErr   error
}

type fakeProc struct {
	h      *host
	ip     string
	exited chan struct{}
}

func (p *fakeProc) Exited() <-chan struct{} { return p.exited }
func (p *fakeProc) Stop() {
	if p.h.listening[p.ip] == p {
		delete(p.h.listening, p.ip)
	}
	select {
	case <-p.exited:
	default:
		close(p.exited)
	}
}

func (h *host) Add(_ context.Context, ip string) error    { h.addrs[ip] = true; return nil }
func (h *host) Remove(_ context.Context, ip string) error { delete(h.addrs, ip); return nil }
func (h *host) Start(_ context.Context, w Want) (Process, error) {
	if !h.addrs[w.IP] {
		return nil, fmt.Errorf("cannot bind %s: no such address", w.IP)
	}
	if h.listening[w.IP] != nil {
		return nil, fmt.Errorf("%s: address in use", w.IP)
	}
	p := &fakeProc{h: h, ip: w.IP, exited: make(chan struct{})}
	h.listening[w.IP] = p
	return p, nil
}
func (h *host) MarkServing(_ context.Context, w Want) error {
	if h.markErr != nil {
		return h.markErr
	}
	h.marked = append(h.marked, w.Key)
	return nil
}

func newRunner(h *host, now *time.Time) *Runner {
	return &Runner{Addrs: h, Starter: h, Marker: h, Drain: 2 * time.Second,
		Now: func() time.Time { return *now }, Log: log.New(io.Discard, "", 0)}
}

func newHost() *host { return &host{addrs: map[string]bool{}, listening: map[string]*fakeProc{}} }

func TestWantOf(t *testing.T) {
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "a", UID: "u1"},
		Spec: corev1.PodSpec{Containers: []corev1.Container{
			{Name: "side", Image: "busybox"},
			{Name: "app", Image: "registry.local/team/vireo-demo:green", Ports: []corev1.ContainerPort{{ContainerPort: 9000}}},
		}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIP: "10.244.0.7"},
	}
	w, ok := WantOf(pod, "vireo-demo")
	if !ok || w != (Want{UID: "u1", Key: "default/a", IP: "10.244.0.7", Port: 9000, Color: "green"}) {
		t.Fatalf("got %+v %v", w, ok)
	}
	for name, change := range map[string]func(p *corev1.Pod){
		"other image":   func(p *corev1.Pod) { p.Spec.Containers[1].Image = "vireo-demo-old:green" },
		"no tag":        func(p *corev1.Pod) { p.Spec.Containers[1].Image = "vireo-demo" },
		"pending":       func(p *corev1.Pod) { p.Status.Phase = corev1.PodPending },
		"no IP":         func(p *corev1.Pod) { p.Status.PodIP = "" },
		"being deleted": func(p *corev1.Pod) { p.DeletionTimestamp = &metav1.Time{} },
	} {
		p := pod.DeepCopy()
		change(p)
		if _, ok := WantOf(p, "vireo-demo"); ok {
			t.Errorf("%s: the runner would serve it", name)
		}
	}
}

// A pod that goes away keeps serving through the drain time, unless kwok
// hands its IP to a new pod, which then gets it at once.
func TestGonePodDrainsUnlessItsIPIsReused(t *testing.T) {
	ctx := context.Background()
	now := time.Unix(0, 0)
	h := newHost()
	r := newRunner(h, &now)
	a := Want{UID: "ua", Key: "default/a", IP: "10.244.0.5", Port: 8080, Color: "blue"}
	if err := r.Sync(ctx, a.Key, a, true); err != nil {
		t.Fatal(err)
	}
	if !h.addrs[a.IP] || h.listening[a.IP] == nil || len(h.marked) != 1 {
		t.Fatalf("a is not served: %+v", h)
	}
	// a goes away: still served for the drain time.
	r.Sync(ctx, a.Key, Want{}, false)
	now = now.Add(time.Second)
	r.Sweep(ctx)
	if h.listening[a.IP] == nil {
		t.Fatal("a stopped before its drain time ended")
	}
	// b gets a's IP: a stops at once and b serves on the same address.
	b := Want{UID: "ub", Key: "default/b", IP: a.IP, Port: 8080, Color: "green"}
	if err := r.Sync(ctx, b.Key, b, true); err != nil {
		t.Fatal(err)
	}
	now = now.Add(5 * time.Second)
	r.Sweep(ctx)
	if !h.addrs[a.IP] || h.listening[a.IP] == nil {
		t.Fatalf("b lost the reused IP when a's drain ended: %+v", h)
	}
	// b goes away and drains: then its IP is removed.
	r.Sync(ctx, b.Key, Want{}, false)
	now = now.Add(3 * time.Second)
	r.Sweep(ctx)
	if h.addrs[a.IP] || len(h.listening) != 0 {
		t.Fatalf("after the drain: %+v", h)
	}
}

func TestAProcessThatEndsIsStartedAgain(t *testing.T) {
	ctx := context.Background()
	now := time.Unix(0, 0)
	h := newHost()
	r := newRunner(h, &now)
	a := Want{UID: "ua", Key: "default/a", IP: "10.244.0.5", Port: 8080, Color: "blue"}
	r.Sync(ctx, a.Key, a, true)
	h.listening[a.IP].Stop() // the process crashes
	if got := r.Sweep(ctx); len(got) != 1 || got[0] != a.Key {
		t.Fatalf("sweep returned %v, want the crashed pod", got)
	}
	if err := r.Sync(ctx, a.Key, a, true); err != nil || h.listening[a.IP] == nil {
		t.Fatalf("not restarted: %v", err)
	}
}

// Many pods come and go, kwok handing out a small pool of IPs again and
// again: at every moment each wanted pod has its process, and lo holds
// exactly the addresses of live processes.
func TestManyPodsComingAndGoing(t *testing.T) {
	ctx := context.Background()
	now := time.Unix(0, 0)
	h := newHost()
	r := newRunner(h, &now)
	rng := rand.New(rand.NewPCG(1, 2))
	wanted := map[string]Want{}
	ipOwner := map[string]string{} // the pod kwok gave each IP to
	for step := 0; step < 2000; step++ {
		now = now.Add(time.Duration(rng.IntN(800)) * time.Millisecond)
		key := fmt.Sprintf("default/p%d", rng.IntN(12))
		if _, ok := wanted[key]; ok && rng.IntN(2) == 0 {
			delete(ipOwner, wanted[key].IP)
			delete(wanted, key)
			if err := r.Sync(ctx, key, Want{}, false); err != nil {
				t.Fatal(err)
			}
		} else if !ok {
			var ip string
			for { // the lowest free IP of eight, as kwok reuses them
				for i := 1; i <= 8; i++ {
					if c := fmt.Sprintf("10.244.0.%d", i); ipOwner[c] == "" {
						ip = c
						break
					}
				}
				if ip != "" {
					break
				}
				for k, w := range wanted { // pool full: free one
					delete(ipOwner, w.IP)
					delete(wanted, k)
					r.Sync(ctx, k, Want{}, false)
					break
				}
			}
			w := Want{UID: fmt.Sprint(step), Key: key, IP: ip, Port: 8080, Color: "c"}
			wanted[key], ipOwner[ip] = w, key
			if err := r.Sync(ctx, key, w, true); err != nil {
				t.Fatalf("step %d: %v", step, err)
			}
		}
		r.Sweep(ctx)
		for k, w := range wanted {
			if p := r.running[k]; p == nil || p.Want != w || h.listening[w.IP] == nil {
				t.Fatalf("step %d: %s (%s) is not served", step, k, w.IP)
			}
		}
		var live, addrs []string
		for ip := range h.listening {
			live = append(live, ip)
		}
		for ip := range h.addrs {
			addrs = append(addrs, ip)
		}
		sort.Strings(live)
		sort.Strings(addrs)
		if fmt.Sprint(live) != fmt.Sprint(addrs) {
			t.Fatalf("step %d: addresses %v, processes on %v", step, addrs, live)
		}
	}
}

// A pod whose mark failed is marked on its next sync, without a restart.
func TestAFailedMarkIsRetried(t *testing.T) {
	ctx := context.Background()
	now := time.Unix(0, 0)
	h := newHost()
	r := newRunner(h, &now)
	a := Want{UID: "ua", Key: "default/a", IP: "10.244.0.5", Port: 8080, Color: "blue"}
	h.markErr = fmt.Errorf("the API server is busy")
	if err := r.Sync(ctx, a.Key, a, true); err == nil {
		t.Fatal("a failed mark was not reported, so the pod would not be synced again")
	}
	first := h.listening[a.IP]
	h.markErr = nil
	if err := r.Sync(ctx, a.Key, a, true); err != nil {
		t.Fatal(err)
	}
	if len(h.marked) != 1 || h.listening[a.IP] != first {
		t.Fatalf("marked %v; process replaced: %v", h.marked, h.listening[a.IP] != first)
	}
	if err := r.Sync(ctx, a.Key, a, true); err != nil || len(h.marked) != 1 {
		t.Fatalf("a marked pod was marked again: %v %v", h.marked, err)
	}
}
