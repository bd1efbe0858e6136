// Command podrunner is a kubelet for one image, for the local live stack
// (hack/live): for every Running pod of the demo image on the local control
// plane it adds the pod's IP to the network namespace's loopback device and
// starts the demo app bound to IP:port, with the colour of the image's tag.
// When the pod goes away, the process serves for a short drain time, then
// stops and its IP is removed. Run it inside the live stack's namespace.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/util/workqueue"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "podrunner:", err)
		os.Exit(1)
	}
}

func run() error {
	kubeconfig := flag.String("kubeconfig", "", "kubeconfig of the local control plane")
	image := flag.String("image", "vireo-demo", "the image (without registry or tag) whose pods this runner serves")
	binary := flag.String("app", "", "the demo app's binary (vireo-demo)")
	faults := flag.String("faults-dir", "", "directory shared by every demo process for injected faults")
	logs := flag.String("logs", "", "directory for each pod's process log")
	targets := flag.String("targets", "", "Prometheus file_sd file to keep listing every process")
	device := flag.String("device", "lo", "device that gets the pods' IPs")
	drain := flag.Duration("drain", 2*time.Second, "how long a process serves after its pod goes away")
	flag.Parse()
	for name, v := range map[string]string{"kubeconfig": *kubeconfig, "app": *binary, "faults-dir": *faults, "logs": *logs} {
		if v == "" {
			return fmt.Errorf("--%s is required", name)
		}
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", *kubeconfig)
	if err != nil {
		return fmt.Errorf("--kubeconfig: %w", err)
	}
	cfg.QPS, cfg.Burst = 100, 200
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	logger := log.New(os.Stderr, "podrunner: ", log.Ltime|log.Lmicroseconds)
	r := &Runner{
		Addrs:   ipAddrs{device: *device},
		Starter: execStarter{binary: *binary, faults: *faults, logs: *logs},
		Marker:  annotator{client: client},
		Drain:   *drain,
		Targets: *targets,
		Log:     logger,
	}
	if err := r.writeTargets(); err != nil {
		return err
	}
	factory := informers.NewSharedInformerFactory(client, 0)
	pods := factory.Core().V1().Pods().Informer()
	queue := workqueue.NewTypedRateLimitingQueue(workqueue.DefaultTypedControllerRateLimiter[string]())
	enqueue := func(obj any) {
		if key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj); err == nil {
			queue.Add(key)
		}
	}
	pods.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    enqueue,
		UpdateFunc: func(_, obj any) { enqueue(obj) },
		DeleteFunc: enqueue,
	})
	factory.Start(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), pods.HasSynced) {
		return errors.New("pods never synced")
	}
	logger.Printf("serving pods of image %s", *image)
	// The sweep runs on the same goroutine as every sync, through the queue.
	const sweep = "\x00sweep"
	go func() {
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				queue.ShutDown()
				return
			case <-t.C:
				queue.Add(sweep)
			}
		}
	}()
	for {
		key, quit := queue.Get()
		if quit {
			break
		}
		if key == sweep {
			for _, k := range r.Sweep(ctx) {
				queue.AddRateLimited(k)
			}
			queue.Done(key)
			continue
		}
		var w Want
		var ok bool
		if obj, exists, err := pods.GetStore().GetByKey(key); err == nil && exists {
			w, ok = WantOf(obj.(*corev1.Pod), *image)
		}
		if err := r.Sync(ctx, key, w, ok); err != nil && ctx.Err() == nil {
			logger.Print(err)
			queue.AddRateLimited(key)
		} else {
			queue.Forget(key)
		}
		queue.Done(key)
	}
	r.StopAll(context.Background())
	logger.Print("stopped every process")
	return nil
}

// ipAddrs changes the device's addresses with iproute2.
type ipAddrs struct{ device string }

func (a ipAddrs) Add(ctx context.Context, ip string) error {
	out, err := exec.CommandContext(ctx, "ip", "addr", "add", ip+"/32", "dev", a.device).CombinedOutput()
	if err != nil && !strings.Contains(string(out), "File exists") {
		return fmt.Errorf("ip addr add: %v: %s", err, out)
	}
	return nil
}

func (a ipAddrs) Remove(ctx context.Context, ip string) error {
	out, err := exec.CommandContext(ctx, "ip", "addr", "del", ip+"/32", "dev", a.device).CombinedOutput()
	if err != nil && !strings.Contains(string(out), "Cannot assign") {
		return fmt.Errorf("ip addr del: %v: %s", err, out)
	}
	return nil
}

// execStarter runs the demo app as a child process.
type execStarter struct{ binary, faults, logs string }

type child struct {
	cmd    *exec.Cmd
	exited chan struct{}
}

func (c *child) Exited() <-chan struct{} { return c.exited }

func (c *child) Stop() {
	c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.exited:
	case <-time.After(3 * time.Second):
		c.cmd.Process.Kill()
		<-c.exited
	}
}

func (s execStarter) Start(ctx context.Context, w Want) (Process, error) {
	addr := net.JoinHostPort(w.IP, strconv.Itoa(w.Port))
	logf, err := os.OpenFile(filepath.Join(s.logs, strings.ReplaceAll(w.Key, "/", "_")+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	cmd := exec.Command(s.binary, "--listen", addr, "--color", w.Color, "--faults-dir", s.faults)
	cmd.Stdout, cmd.Stderr = logf, logf
	// The process dies with the runner, whatever way the runner ends.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	c := &child{cmd: cmd, exited: make(chan struct{})}
	go func() { cmd.Wait(); close(c.exited) }()
	for deadline := time.Now().Add(5 * time.Second); ; {
		conn, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			conn.Close()
			return c, nil
		}
		select {
		case <-c.exited:
			return nil, fmt.Errorf("the process ended at once (log: %s)", logf.Name())
		case <-ctx.Done():
			c.Stop()
			return nil, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			c.Stop()
			return nil, fmt.Errorf("nothing listens on %s after 5s", addr)
		}
	}
}

// annotator marks a pod serving with a merge patch, for its uid only.
type annotator struct{ client kubernetes.Interface }

func (a annotator) MarkServing(ctx context.Context, w Want) error {
	ns, name, _ := strings.Cut(w.Key, "/")
	patch := fmt.Sprintf(`{"metadata":{"uid":%q,"annotations":{%q:"true"}}}`, w.UID, ServingAnnotation)
	_, err := a.client.CoreV1().Pods(ns).Patch(ctx, name, types.MergePatchType, []byte(patch), metav1.PatchOptions{})
	if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
		return nil // the pod is gone or replaced; its own sync follows
	}
	return err
}
