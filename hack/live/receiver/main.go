// Command receiver takes the live stack's notifications, as the services
// they are sent to would: a generic webhook (/webhook), Slack's
// chat.postMessage (/slack/chat.postMessage, answering {"ok": true}) and a
// Teams Workflows webhook (/teams). It logs each as a JSON line: when, the
// path, the body and the Authorization header's scheme.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"
)

// Received is one logged notification.
type Received struct {
	At   time.Time       `json:"at"`
	Path string          `json:"path"`
	Auth string          `json:"auth,omitempty"`
	Body json.RawMessage `json:"body"`
}

func main() {
	listen := flag.String("listen", "127.0.0.1:9901", "address to listen on")
	logPath := flag.String("log", "notifications.log", "file the notifications are appended to, a JSON line each")
	flag.Parse()
	f, err := os.OpenFile(*logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		fmt.Fprintln(os.Stderr, "receiver:", err)
		os.Exit(1)
	}
	var mu sync.Mutex
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost && r.Method != http.MethodPut {
			http.Error(w, "POST a notification", http.StatusMethodNotAllowed)
			return
		}
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if !json.Valid(body) {
			body, _ = json.Marshal(string(body))
		}
		scheme, _, _ := strings.Cut(r.Header.Get("Authorization"), " ")
		line, _ := json.Marshal(Received{At: time.Now().UTC(), Path: r.URL.Path, Auth: scheme, Body: body})
		mu.Lock()
		_, err = f.Write(append(line, '\n'))
		mu.Unlock()
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		if strings.HasSuffix(r.URL.Path, "/chat.postMessage") {
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprint(w, `{"ok": true}`)
		}
	})
	fmt.Println("receiver: listening on", *listen)
	if err := http.ListenAndServe(*listen, nil); err != nil {
		fmt.Fprintln(os.Stderr, "receiver:", err)
		os.Exit(1)
	}
}
