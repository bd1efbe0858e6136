// Package dashboard serves Vireo's web UI: the rollouts of a namespace, one
// rollout's steps, revisions, pods and analysis charts, and buttons for the
// same actions as the CLI. It acts with the credentials it is given (the
// user's kubeconfig), sends live updates as server-sent events, and lets in
// only a browser that presents its random access token.
package dashboard

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vireo-dev/vireo/api/v1alpha1"
	"github.com/vireo-dev/vireo/internal/rolloutview"
	"github.com/vireo-dev/vireo/pkg/actions"
)

// cookieName holds the access token once the browser has shown it.
const cookieName = "vireo-dashboard"

// Server is the dashboard.
type Server struct {
	// Client acts on the cluster, with the user's credentials.
	Client client.WithWatch
	// Namespace is the one shown first.
	Namespace string
	// Token is the access token; NewToken makes one.
	Token string
	// Loopback, when set, also refuses requests whose Host is not a
	// loopback name or address, so that a web page elsewhere cannot reach
	// the dashboard by rebinding its own host name to 127.0.0.1.
	Loopback bool
	// Now is the clock for restarts; time.Now when nil.
	Now func() time.Time
	// MinInterval is the shortest time between two updates of one event
	// stream; 250ms when zero.
	MinInterval time.Duration
}

// NewToken is a random access token.
func NewToken() (string, error) {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("making the access token: %w", err)
	}
	return hex.EncodeToString(b), nil
}

// Handler serves the UI's files and its API, behind the token.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/config", s.config)
	mux.HandleFunc("GET /api/namespaces/{ns}/rollouts", s.list)
	mux.HandleFunc("GET /api/namespaces/{ns}/rollouts/{name}", s.detail)
	mux.HandleFunc("GET /api/namespaces/{ns}/events", s.events)
	mux.HandleFunc("POST /api/namespaces/{ns}/rollouts/{name}/{action}", s.act)
	mux.HandleFunc("GET /api/namespaces/{ns}/canaries", s.listCanaries)
	mux.HandleFunc("POST /api/namespaces/{ns}/canaries/{name}/{action}", s.actCanary)
	files, err := fs.Sub(assets, "assets")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	static := http.FileServerFS(files)
	mux.Handle("GET /", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-cache")
		static.ServeHTTP(w, r) // the UI routes by #fragment: only its files are asked for
	}))
	return s.guard(mux)
}

// guard checks the host, then the token: from the cookie, or from the
// ?token= of the printed URL, which it trades for the cookie.
func (s *Server) guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("X-Frame-Options", "DENY")
		w.Header().Set("Content-Security-Policy", "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:")
		w.Header().Set("Referrer-Policy", "no-referrer")
		if s.Loopback && !loopbackHost(r.Host) {
			http.Error(w, "the dashboard answers only to localhost names (Host "+r.Host+")", http.StatusForbidden)
			return
		}
		if t := r.URL.Query().Get("token"); t != "" {
			if !s.validToken(t) {
				refuse(w, "the access token in the URL is wrong")
				return
			}
			http.SetCookie(w, &http.Cookie{Name: cookieName, Value: t, Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode})
			q := r.URL.Query()
			q.Del("token")
			u := url.URL{Path: r.URL.Path, RawQuery: q.Encode()}
			http.Redirect(w, r, u.String(), http.StatusSeeOther)
			return
		}
		c, err := r.Cookie(cookieName)
		if err != nil || !s.validToken(c.Value) {
			refuse(w, "open the URL with the access token that kubectl vireo dashboard printed")
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			// A form on another site cannot send this header without the
			// browser asking first, and the dashboard never says yes.
			if r.Header.Get("X-Vireo-Dashboard") != "1" {
				http.Error(w, "actions need the X-Vireo-Dashboard: 1 header", http.StatusForbidden)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

func (s *Server) validToken(t string) bool {
	return s.Token != "" && subtle.ConstantTimeCompare([]byte(t), []byte(s.Token)) == 1
}

func refuse(w http.ResponseWriter, why string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(http.StatusUnauthorized)
	fmt.Fprintf(w, `<!doctype html><title>Vireo: access token needed</title><h1>Access token needed</h1><p>%s.</p>`, why)
}

func loopbackHost(hostport string) bool {
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		host = hostport
	}
	host = strings.Trim(host, "[]")
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func (s *Server) config(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"namespace": s.Namespace})
}

func (s *Server) list(w http.ResponseWriter, r *http.Request) {
	l, err := s.rollouts(r.Context(), r.PathValue("ns"))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, l)
}

func (s *Server) detail(w http.ResponseWriter, r *http.Request) {
	v, err := s.rollout(r.Context(), types.NamespacedName{Namespace: r.PathValue("ns"), Name: r.PathValue("name")})
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

// rollouts are the views of a namespace's rollouts, by name, without their
// revisions.
func (s *Server) rollouts(ctx context.Context, ns string) ([]rolloutview.Rollout, error) {
	var l v1alpha1.RolloutList
	if err := s.Client.List(ctx, &l, client.InNamespace(ns)); err != nil {
		return nil, fmt.Errorf("listing rollouts in namespace %s: %w", ns, err)
	}
	out := make([]rolloutview.Rollout, 0, len(l.Items))
	for i := range l.Items {
		out = append(out, rolloutview.Build(rolloutview.Objects{Rollout: &l.Items[i]}))
	}
	slices.SortFunc(out, func(a, b rolloutview.Rollout) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

func (s *Server) rollout(ctx context.Context, key types.NamespacedName) (rolloutview.Rollout, error) {
	o, err := rolloutview.Load(ctx, s.Client, key)
	if err != nil {
		return rolloutview.Rollout{}, err
	}
	return rolloutview.Build(o), nil
}

// act runs one of the buttons' actions: the CLI's patches.
func (s *Server) act(w http.ResponseWriter, r *http.Request) {
	key := types.NamespacedName{Namespace: r.PathValue("ns"), Name: r.PathValue("name")}
	ctx := r.Context()
	var err error
	switch action := r.PathValue("action"); action {
	case "promote":
		_, err = actions.Promote(ctx, s.Client, key, actions.PromoteOptions{})
	case "promote-full":
		_, err = actions.Promote(ctx, s.Client, key, actions.PromoteOptions{Full: true})
	case "abort":
		_, err = actions.Abort(ctx, s.Client, key)
	case "retry":
		_, err = actions.Retry(ctx, s.Client, key)
	case "pause":
		_, err = actions.Pause(ctx, s.Client, key)
	case "restart":
		now := time.Now
		if s.Now != nil {
			now = s.Now
		}
		_, err = actions.Restart(ctx, s.Client, key, now())
	default:
		writeJSON(w, http.StatusNotFound, map[string]string{"error": fmt.Sprintf("no action %q: promote, promote-full, abort, retry, pause or restart", action)})
		return
	}
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"result": fmt.Sprintf("rollout %s: %s done", key.Name, r.PathValue("action"))})
}

// events streams the namespace's rollouts ("rollouts" events) and, with
// ?rollout=NAME, that rollout ("rollout" events), at once and again on
// every change, at most every MinInterval.
func (s *Server) events(w http.ResponseWriter, r *http.Request) {
	ns, name := r.PathValue("ns"), r.URL.Query().Get("rollout")
	flusher, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming is not supported here", http.StatusInternalServerError)
		return
	}
	ctx := r.Context()
	changed, err := rolloutview.Watch(ctx, s.Client, ns)
	if err != nil {
		writeError(w, err)
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)

	var lastList, lastOne, lastCanaries []byte
	send := func() error {
		// Flagger's Canaries, beside the rollouts, when their CRD is there.
		if cs, err := s.canaries(ctx, ns); err == nil {
			if b, _ := json.Marshal(cs); string(b) != string(lastCanaries) {
				lastCanaries = b
				if err := sendRaw(w, "canaries", b); err != nil {
					return err
				}
			}
		}
		list, err := s.rollouts(ctx, ns)
		if err != nil {
			lastList = nil // the next good list clears the page's failure
			if err := sendEvent(w, "failure", map[string]string{"error": err.Error()}); err != nil {
				return err
			}
			flusher.Flush()
			return nil
		}
		if b, _ := json.Marshal(list); string(b) != string(lastList) {
			lastList = b
			if err := sendRaw(w, "rollouts", b); err != nil {
				return err
			}
		}
		if name != "" {
			var b []byte
			v, err := s.rollout(ctx, types.NamespacedName{Namespace: ns, Name: name})
			if err != nil {
				b, _ = json.Marshal(map[string]string{"error": err.Error()})
			} else {
				b, _ = json.Marshal(v)
			}
			if string(b) != string(lastOne) {
				lastOne = b
				if err := sendRaw(w, "rollout", b); err != nil {
					return err
				}
			}
		}
		flusher.Flush()
		return nil
	}
	if err := send(); err != nil {
		return
	}
	interval := s.MinInterval
	if interval == 0 {
		interval = 250 * time.Millisecond
	}
	keepAlive := time.NewTicker(15 * time.Second)
	defer keepAlive.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-keepAlive.C:
			if _, err := fmt.Fprint(w, ": keep-alive\n\n"); err != nil {
				return
			}
			flusher.Flush()
		case <-changed:
			// Let a burst of changes (a scale-up's pods) settle into one update.
			select {
			case <-ctx.Done():
				return
			case <-time.After(interval):
			}
			if err := send(); err != nil {
				return
			}
		}
	}
}

func sendEvent(w http.ResponseWriter, event string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return sendRaw(w, event, b)
}

func sendRaw(w http.ResponseWriter, event string, data []byte) error {
	_, err := fmt.Fprintf(w, "event: %s\ndata: %s\n\n", event, data)
	return err
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// writeError answers with the error's message, and the API server's status
// code when it has one (404 for a missing rollout, 403 for a forbidden act).
func writeError(w http.ResponseWriter, err error) {
	code := http.StatusInternalServerError
	var status apierrors.APIStatus
	if errors.As(err, &status) && status.Status().Code != 0 {
		code = int(status.Status().Code)
	}
	if errors.Is(err, actions.ErrNotFound) {
		code = http.StatusNotFound
	}
	writeJSON(w, code, map[string]string{"error": err.Error()})
}
