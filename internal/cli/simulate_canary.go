package cli

import (
	"bytes"
	"fmt"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	"k8s.io/apimachinery/pkg/runtime"

	flaggerv1beta1 "github.com/vireo-dev/vireo/api/flagger/v1beta1"
	"github.com/vireo-dev/vireo/internal/canary"
	canarysim "github.com/vireo-dev/vireo/internal/canary/sim"
	"github.com/vireo-dev/vireo/internal/simulate"
)

// simulateCanary plays a Canary's next release on the planner: the Canary
// is initialized on its target (from the same file), then the target gets a
// new image a minute later; webhooks pass, and metrics pass or, with
// --analysis fail, fail (built-in ones measure 50% success and 5 s; a
// template's query finds no values). The log is every write, check and
// event, at its simulated time.
func simulateCanary(b *bytes.Buffer, cn *flaggerv1beta1.Canary, deployments map[string]*appsv1.Deployment,
	data []byte, o simulate.Options) error {
	templates := templatesIn(data)
	target := deployments[cn.Spec.TargetRef.Name]
	if target == nil {
		return fmt.Errorf("canary %s targets Deployment %q, which the file does not hold: add it to simulate", cn.Name, cn.Spec.TargetRef.Name)
	}
	if len(target.Spec.Template.Spec.Containers) == 0 {
		return fmt.Errorf("canary %s: Deployment %s has no container", cn.Name, target.Name)
	}
	if cn.Namespace == "" {
		cn.Namespace = "default"
	}
	if target.Namespace == "" {
		target.Namespace = cn.Namespace
	}
	w := canarysim.New(cn.DeepCopy(), target.DeepCopy())
	if ref := cn.Spec.AutoscalerRef; ref != nil && ref.Kind == "HorizontalPodAutoscaler" {
		w.HPA = hpaIn(data, ref.Name)
	}
	w.Templates = map[string]*flaggerv1beta1.MetricTemplate{}
	for k, t := range templates {
		if strings.HasPrefix(k, "/") { // no namespace: the Canary's
			k = cn.Namespace + k
		}
		w.Templates[k] = t
	}
	if o.AnalysisFails {
		w.Answer = func(w *canarysim.World, c canary.Check) canary.Result {
			if c.Kind == canary.HookCheck || c.Metric.Query == "vector(1)" {
				return canarysim.Healthy(w, c)
			}
			switch c.Metric.Name {
			case "request-success-rate":
				return canary.Result{OK: true, Value: 50}
			case "request-duration":
				return canary.Result{OK: true, Value: 5000}
			}
			return canary.Result{NoValues: true, Err: "no values found"}
		}
	}
	image := nextImage(target.Spec.Template.Spec.Containers[0].Image)
	steps := 10
	if a := cn.Spec.Analysis; a != nil {
		switch {
		case a.Iterations > 0:
			steps = a.Iterations + 1
		case len(a.StepWeights) > 0:
			steps = len(a.StepWeights)
		case a.StepWeight > 0:
			steps = canary.MaxWeight(cn)/a.StepWeight + 1
		}
	}
	interval := canary.Interval(cn)
	until := min(time.Minute+interval*time.Duration(steps+canary.Threshold(cn)+8), o.Limit)
	if err := w.Run(until, map[time.Duration]func(*canarysim.World){time.Minute: canarysim.SetImage(image)}); err != nil {
		return fmt.Errorf("canary %s: %w", cn.Name, err)
	}
	analysis := "pass"
	if o.AnalysisFails {
		analysis = "fail"
	}
	fmt.Fprintf(b, "Canary %s (%s): initialized, then the next release (%s) at 1m, simulated\n", cn.Name, strategyOf(cn), image)
	fmt.Fprintf(b, "Assuming Deployments are ready as soon as they change, webhooks pass and metrics %s.\n\n", analysis)
	for _, line := range w.Log {
		b.WriteString(line + "\n")
	}
	for _, broken := range w.Broken {
		fmt.Fprintf(b, "INVARIANT BROKEN: %s\n", broken)
	}
	return nil
}

// nextImage is the image with its tag replaced by "next".
func nextImage(image string) string {
	i := strings.LastIndex(image, ":")
	if i < 0 || strings.Contains(image[i:], "/") {
		return image + ":next"
	}
	return image[:i] + ":next"
}

// templatesIn are a manifest's MetricTemplates by "namespace/name" (an
// empty namespace stays empty: the Canary's).
func templatesIn(data []byte) map[string]*flaggerv1beta1.MetricTemplate {
	out := map[string]*flaggerv1beta1.MetricTemplate{}
	objects, err := decodeManifest(data)
	if err != nil {
		return out
	}
	for _, u := range objects {
		if u.GroupVersionKind() != flaggerv1beta1.GroupVersion.WithKind("MetricTemplate") {
			continue
		}
		var t flaggerv1beta1.MetricTemplate
		if runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, &t) == nil {
			out[t.Namespace+"/"+t.Name] = &t
		}
	}
	return out
}

// hpaIn is the manifest's HorizontalPodAutoscaler of this name (autoscaling
// v2 or v2beta2, read as v2), or nil.
func hpaIn(data []byte, name string) *autoscalingv2.HorizontalPodAutoscaler {
	objects, err := decodeManifest(data)
	if err != nil {
		return nil
	}
	for _, u := range objects {
		if u.GetKind() != "HorizontalPodAutoscaler" || u.GetName() != name {
			continue
		}
		var h autoscalingv2.HorizontalPodAutoscaler
		if runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, &h) == nil {
			return &h
		}
	}
	return nil
}
