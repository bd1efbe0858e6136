package fence

import (
	"context"
	"errors"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/record"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

type ctxKey struct{}

// shards holds the objects whose names are in held, and lets a pass write
// only when its context was claimed.
type shards struct{ held map[string]bool }

func (s shards) MayWrite(ctx context.Context) error {
	if ctx.Value(ctxKey{}) == nil {
		return errors.New("no shard")
	}
	return nil
}

func (s shards) Claim(ctx context.Context, obj client.Object) (context.Context, bool) {
	if !s.held[obj.GetName()] {
		return ctx, false
	}
	return context.WithValue(ctx, ctxKey{}, obj.GetName()), true
}

func (s shards) MayWriteFor(obj runtime.Object) error {
	if !s.held[obj.(client.Object).GetName()] {
		return errors.New("not my shard")
	}
	return nil
}

type lease struct{ err error }

func (l lease) MayWrite(context.Context) error { return l.err }

func TestBegin(t *testing.T) {
	mine := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "mine"}}
	theirs := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "theirs"}}
	s := shards{held: map[string]bool{"mine": true}}

	ctx, res, ok := Begin(context.Background(), s, mine)
	if !ok || res.RequeueAfter != 0 || s.MayWrite(ctx) != nil {
		t.Errorf("an object of a held shard: ok %v, requeue %v, its context may write: %v", ok, res.RequeueAfter, s.MayWrite(ctx))
	}
	if _, res, ok := Begin(context.Background(), s, theirs); ok || res.RequeueAfter != 0 {
		t.Errorf("an object of another's shard: ok %v, requeue %v; want left alone, no requeue", ok, res.RequeueAfter)
	}
	if _, res, ok := Begin(context.Background(), lease{errors.New("lost")}, mine); ok || res.RequeueAfter != time.Second {
		t.Errorf("a replica not leading: ok %v, requeue %v; want a look again in a second", ok, res.RequeueAfter)
	}
	if _, _, ok := Begin(context.Background(), nil, mine); !ok {
		t.Error("no fence refused a pass")
	}

	// Events are fenced by their object's shard.
	rec := record.NewFakeRecorder(10)
	fenced := Recorder(rec, s)
	fenced.Event(mine, corev1.EventTypeNormal, "R", "mine")
	fenced.Event(theirs, corev1.EventTypeNormal, "R", "theirs")
	if len(rec.Events) != 1 || <-rec.Events != "Normal R mine" {
		t.Error("an Event of another replica's shard was written, or one of ours was not")
	}
}
