package live

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"time"
)

// proxyWatch polls Traefik's API for the weight it serves the canary with,
// so a measure can start from the moment a weight reached the data plane,
// not from the moment Vireo wrote it. It works for both providers: each
// lists the canary Service's entry in a weighted service.
type proxyWatch struct {
	mu     sync.Mutex
	events []weightEvent
	stop   context.CancelFunc
	done   chan struct{}
}

func watchProxy(apiURL string) *proxyWatch { return watchProxyWith(canaryWeight, apiURL) }

// watchProxyWith watches the weight that weight reads from Traefik's API.
func watchProxyWith(weight func(*http.Client, string) (int32, bool), apiURL string) *proxyWatch {
	ctx, cancel := context.WithCancel(context.Background())
	p := &proxyWatch{stop: cancel, done: make(chan struct{})}
	go func() {
		defer close(p.done)
		client := &http.Client{Timeout: time.Second}
		for ctx.Err() == nil {
			if w, ok := weight(client, apiURL); ok {
				now := time.Now()
				p.mu.Lock()
				if n := len(p.events); n == 0 || p.events[n-1].weight != w {
					p.events = append(p.events, weightEvent{at: now, weight: w, verified: true})
				}
				p.mu.Unlock()
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()
	return p
}

// Stop ends the watch and returns the weight changes it saw.
func (p *proxyWatch) Stop() []weightEvent {
	p.stop()
	<-p.done
	return p.events
}

// weightedEntry is one entry of a Traefik weighted service.
type weightedEntry struct {
	Name   string `json:"name"`
	Weight *int32 `json:"weight"`
}

// weightedServices reads the entries of Traefik's weighted services, one
// list per weighted service, from its API.
func weightedServices(client *http.Client, apiURL string) ([][]weightedEntry, bool) {
	resp, err := client.Get(apiURL + "/api/http/services")
	if err != nil {
		return nil, false
	}
	defer resp.Body.Close()
	var services []struct {
		Weighted *struct {
			Services []weightedEntry `json:"services"`
		} `json:"weighted"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&services); err != nil {
		return nil, false
	}
	var out [][]weightedEntry
	for _, s := range services {
		if s.Weighted != nil {
			out = append(out, s.Weighted.Services)
		}
	}
	return out, true
}

// canaryWeight is the weight of the canary-demo-canary entry of Traefik's
// weighted services.
func canaryWeight(client *http.Client, apiURL string) (int32, bool) {
	services, ok := weightedServices(client, apiURL)
	if !ok {
		return 0, false
	}
	for _, entries := range services {
		for _, e := range entries {
			if strings.Contains(e.Name, "canary-demo-canary") && e.Weight != nil {
				return *e.Weight, true
			}
		}
	}
	return 0, false
}

// firstAt is the first event at or after from with this weight.
func firstAt(events []weightEvent, from time.Time, weight int32) (time.Time, bool) {
	for _, e := range events {
		if !e.at.Before(from) && e.weight == weight {
			return e.at, true
		}
	}
	return time.Time{}, false
}
