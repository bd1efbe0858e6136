package e2e

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// auditEvent is the part of an API server audit event the tests read.
type auditEvent struct {
	Verb      string `json:"verb"`
	UserAgent string `json:"userAgent"`
	User      struct {
		Username string `json:"username"`
	} `json:"user"`
	ObjectRef struct {
		Resource    string `json:"resource"`
		Subresource string `json:"subresource"`
		Namespace   string `json:"namespace"`
		Name        string `json:"name"`
	} `json:"objectRef"`
	ResponseStatus struct {
		Code int `json:"code"`
	} `json:"responseStatus"`
	StageTimestamp time.Time `json:"stageTimestamp"`
}

// auditWrites returns the writes (create, update, patch, delete) made by
// ServiceAccounts, as the cluster's audit policy records them, that match keep.
func (c *cluster) auditWrites(t *testing.T, keep func(auditEvent) bool) []auditEvent {
	t.Helper()
	f, err := os.Open(filepath.Join(c.dir, "logs", "audit.log"))
	if err != nil {
		t.Fatalf("audit log: %v", err)
	}
	defer f.Close()
	var out []auditEvent
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		var e auditEvent
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			continue
		}
		if keep(e) {
			out = append(out, e)
		}
	}
	return out
}

// byPid keeps the events of one controller process (its user agent names its pid).
func byPid(pid int) func(auditEvent) bool {
	tag := "(pid " + strconv.Itoa(pid) + ")"
	return func(e auditEvent) bool { return strings.Contains(e.UserAgent, tag) }
}

// rbacDenials lists the writes of Vireo's ServiceAccounts that RBAC refused
// (a 403 that says the user cannot; a namespace being deleted is another
// 403), as "verb resource: message", once each.
func (c *cluster) rbacDenials() []string {
	f, err := os.Open(filepath.Join(c.dir, "logs", "audit.log"))
	if err != nil {
		return []string{"reading the audit log: " + err.Error()}
	}
	defer f.Close()
	seen := map[string]bool{}
	var out []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		var e struct {
			auditEvent
			ResponseStatus struct {
				Code    int    `json:"code"`
				Message string `json:"message"`
			} `json:"responseStatus"`
		}
		if json.Unmarshal(sc.Bytes(), &e) != nil || e.ResponseStatus.Code != 403 ||
			!strings.Contains(e.User.Username, "vireo") || !strings.Contains(e.ResponseStatus.Message, "cannot") ||
			apiserverRestarts.justRestarted(e.StageTimestamp) {
			continue
		}
		key := e.Verb + " " + e.ObjectRef.Resource
		if e.ObjectRef.Subresource != "" {
			key += "/" + e.ObjectRef.Subresource
		}
		if !seen[key] {
			seen[key] = true
			out = append(out, key+": "+e.ResponseStatus.Message)
		}
	}
	return out
}
