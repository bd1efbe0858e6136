// Package fence keeps a replica that no longer leads from writing. Every
// write a controller makes, to any object, goes through a Client built here,
// which asks the Fence first; so does every Event. A leader that was frozen
// (a long pause, SIGSTOP, a partition) and wakes with a stale view therefore
// writes nothing, wherever in a pass it was stopped.
package fence

import (
	"context"
	"errors"
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/record"
	"k8s.io/klog/v2"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
)

// Fence says whether this replica may write now. nil means it may.
type Fence interface {
	MayWrite(ctx context.Context) error
}

// Sharded is a Fence that splits the objects among replicas (--shards):
// a replica reconciles and writes only for the shards it holds.
type Sharded interface {
	Fence
	// Claim says whether this replica holds obj's shard; when it does, the
	// context returned carries the shard, against whose Lease MayWrite
	// then checks the pass's writes.
	Claim(ctx context.Context, obj client.Object) (context.Context, bool)
	// MayWriteFor checks a write about obj made without such a context
	// (an Event).
	MayWriteFor(obj runtime.Object) error
}

// ErrFenced wraps the Fence's refusal of a write.
var ErrFenced = errors.New("write refused: this replica does not lead")

// Client returns c with every write checked against f first: Create, Update,
// Patch, Apply, Delete, DeleteAllOf, and the same on subresources (status,
// eviction, scale). Reads go straight to c. A nil f returns c itself.
func Client(c client.Client, f Fence) client.Client {
	if f == nil {
		return c
	}
	return &fenced{Client: c, f: f}
}

type fenced struct {
	client.Client
	f Fence
}

func (c *fenced) check(ctx context.Context, verb string, obj client.Object) error {
	if err := c.f.MayWrite(ctx); err != nil {
		return fmt.Errorf("%w: %s %s/%s: %v", ErrFenced, verb, obj.GetNamespace(), obj.GetName(), err)
	}
	return nil
}

func (c *fenced) Create(ctx context.Context, obj client.Object, opts ...client.CreateOption) error {
	if err := c.check(ctx, "create", obj); err != nil {
		return err
	}
	return c.Client.Create(ctx, obj, opts...)
}

func (c *fenced) Update(ctx context.Context, obj client.Object, opts ...client.UpdateOption) error {
	if err := c.check(ctx, "update", obj); err != nil {
		return err
	}
	return c.Client.Update(ctx, obj, opts...)
}

func (c *fenced) Patch(ctx context.Context, obj client.Object, patch client.Patch, opts ...client.PatchOption) error {
	if err := c.check(ctx, "patch", obj); err != nil {
		return err
	}
	return c.Client.Patch(ctx, obj, patch, opts...)
}

func (c *fenced) Apply(ctx context.Context, obj runtime.ApplyConfiguration, opts ...client.ApplyOption) error {
	if err := c.f.MayWrite(ctx); err != nil {
		return fmt.Errorf("%w: apply: %v", ErrFenced, err)
	}
	return c.Client.Apply(ctx, obj, opts...)
}

func (c *fenced) Delete(ctx context.Context, obj client.Object, opts ...client.DeleteOption) error {
	if err := c.check(ctx, "delete", obj); err != nil {
		return err
	}
	return c.Client.Delete(ctx, obj, opts...)
}

func (c *fenced) DeleteAllOf(ctx context.Context, obj client.Object, opts ...client.DeleteAllOfOption) error {
	if err := c.check(ctx, "delete all of", obj); err != nil {
		return err
	}
	return c.Client.DeleteAllOf(ctx, obj, opts...)
}

func (c *fenced) Status() client.SubResourceWriter {
	return &fencedSub{SubResourceClient: nil, w: c.Client.Status(), f: c}
}

func (c *fenced) SubResource(name string) client.SubResourceClient {
	sub := c.Client.SubResource(name)
	return &fencedSub{SubResourceClient: sub, w: sub, f: c}
}

// fencedSub fences a subresource's writes; reads (Get) use the embedded client.
type fencedSub struct {
	client.SubResourceClient // nil for Status(), which only writes
	w                        client.SubResourceWriter
	f                        *fenced
}

func (s *fencedSub) Create(ctx context.Context, obj, sub client.Object, opts ...client.SubResourceCreateOption) error {
	if err := s.f.check(ctx, "create subresource of", obj); err != nil {
		return err
	}
	return s.w.Create(ctx, obj, sub, opts...)
}

func (s *fencedSub) Update(ctx context.Context, obj client.Object, opts ...client.SubResourceUpdateOption) error {
	if err := s.f.check(ctx, "update subresource of", obj); err != nil {
		return err
	}
	return s.w.Update(ctx, obj, opts...)
}

func (s *fencedSub) Patch(ctx context.Context, obj client.Object, patch client.Patch, opts ...client.SubResourcePatchOption) error {
	if err := s.f.check(ctx, "patch subresource of", obj); err != nil {
		return err
	}
	return s.w.Patch(ctx, obj, patch, opts...)
}

func (s *fencedSub) Apply(ctx context.Context, obj runtime.ApplyConfiguration, opts ...client.SubResourceApplyOption) error {
	if err := s.f.f.MayWrite(ctx); err != nil {
		return fmt.Errorf("%w: apply subresource: %v", ErrFenced, err)
	}
	return s.w.Apply(ctx, obj, opts...)
}

// Recorder returns r with every Event dropped while f refuses writes: an
// Event is a write too. A nil f returns r itself.
func Recorder(r record.EventRecorder, f Fence) record.EventRecorder {
	if f == nil {
		return r
	}
	return &fencedRecorder{r: r, f: f}
}

type fencedRecorder struct {
	r record.EventRecorder
	f Fence
}

// may says whether an Event about obj may be written.
func (e *fencedRecorder) may(obj runtime.Object) bool {
	if s, ok := e.f.(Sharded); ok {
		return s.MayWriteFor(obj) == nil
	}
	return e.f.MayWrite(context.Background()) == nil
}

func (e *fencedRecorder) Event(obj runtime.Object, typ, reason, msg string) {
	if e.may(obj) {
		e.r.Event(obj, typ, reason, msg)
	}
}

func (e *fencedRecorder) Eventf(obj runtime.Object, typ, reason, format string, args ...any) {
	if e.may(obj) {
		e.r.Eventf(obj, typ, reason, format, args...)
	}
}

func (e *fencedRecorder) AnnotatedEventf(obj runtime.Object, annotations map[string]string, typ, reason, format string, args ...any) {
	if e.may(obj) {
		e.r.AnnotatedEventf(obj, annotations, typ, reason, format, args...)
	}
}

// Begin says whether a pass over obj may begin, and gives the context its
// writes are made in. With shards, an object of a shard another replica
// holds is left alone (ok false, and no requeue: its own replica
// reconciles it; a shard taken over is resynced whole). Then f must let
// this replica write; when it does not, Begin says why in the log, so a
// replica that waits is never silent about it, and asks to look again in
// a second.
func Begin(ctx context.Context, f Fence, obj client.Object) (context.Context, reconcile.Result, bool) {
	if f == nil {
		return ctx, reconcile.Result{}, true
	}
	if s, ok := f.(Sharded); ok {
		var held bool
		if ctx, held = s.Claim(ctx, obj); !held {
			return ctx, reconcile.Result{}, false
		}
	}
	if err := f.MayWrite(ctx); err != nil {
		log.FromContext(ctx).Info("not acting: leadership not confirmed", "object", klog.KObj(obj), "reason", err.Error())
		return ctx, reconcile.Result{RequeueAfter: time.Second}, false
	}
	return ctx, reconcile.Result{}, true
}
