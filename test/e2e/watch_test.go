package e2e

import (
	"context"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vireo-dev/vireo/api/v1alpha1"
	"github.com/vireo-dev/vireo/internal/apischeme"
)

// watchClient is a client of the suite's cluster that can watch.
func (c *cluster) watchClient(t *testing.T) client.WithWatch {
	t.Helper()
	cfg, err := clientcmd.BuildConfigFromFlags("", c.kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	cfg.QPS, cfg.Burst = 500, 1000 // the tests' own client must not be what is measured
	scheme, err := apischeme.New()
	if err != nil {
		t.Fatal(err)
	}
	wc, err := client.NewWithWatch(cfg, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	return wc
}

// watchRollouts calls fn with every version of every Rollout in a namespace
// until the test ends.
func watchRollouts(t *testing.T, wc client.WithWatch, ns string, fn func(*v1alpha1.Rollout)) {
	t.Helper()
	watchObjects(t, wc, &v1alpha1.RolloutList{}, ns, func(obj runtime.Object) {
		if ro, ok := obj.(*v1alpha1.Rollout); ok {
			fn(ro)
		}
	})
}

// watchObjects calls fn with every version of every object of a list's kind
// in a namespace until the test ends. A watch the API server closes (a busy
// server drops slow watchers) is resumed from the last version seen, so
// nothing is missed.
func watchObjects(t *testing.T, wc client.WithWatch, list client.ObjectList, ns string, fn func(runtime.Object)) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	start := func(rv string) (watch.Interface, error) {
		opts := []client.ListOption{client.InNamespace(ns)}
		if rv != "" {
			opts = append(opts, &client.ListOptions{Raw: &metav1.ListOptions{ResourceVersion: rv, AllowWatchBookmarks: true}})
		}
		return wc.Watch(ctx, list.DeepCopyObject().(client.ObjectList), opts...)
	}
	w, err := start("")
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		rv := ""
		for {
			for ev := range w.ResultChan() {
				if ev.Type == watch.Error {
					// Most often 410 Gone: the version is older than the API
					// server keeps (it restarted). Start again from a list;
					// what changed in between is seen as its latest state.
					rv = ""
					continue
				}
				if obj, ok := ev.Object.(client.Object); ok {
					rv = obj.GetResourceVersion()
					if ev.Type != watch.Bookmark {
						fn(ev.Object)
					}
				}
			}
			w.Stop()
			if ctx.Err() != nil {
				return
			}
			for {
				if w, err = start(rv); err == nil {
					break
				}
				if ctx.Err() != nil {
					return
				}
				time.Sleep(100 * time.Millisecond)
			}
		}
	}()
}
