// Command loadgen sends a steady rate of GET requests to one URL, bounded in
// count and time, and writes one line per answer to its log:
//
//	SENT_UNIX_NANO MICROSECONDS STATUS COLOUR
//
// STATUS is the HTTP status, 0 when no answer came; COLOUR is the demo
// app's X-Vireo-Color header, "-" without one. The live tests and
// benchmarks read the log to see which version answered what, and when.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"
)

func main() {
	url := flag.String("url", "http://127.0.0.1/color", "what to request")
	rate := flag.Float64("rate", 100, "requests per second")
	duration := flag.Duration("duration", time.Hour, "stop after this long")
	max := flag.Int("max-requests", 400000, "stop after this many requests")
	logPath := flag.String("log", "", "the log file (appended to)")
	flag.Parse()
	if err := run(*url, *rate, *duration, *max, *logPath); err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(1)
	}
}

func run(url string, rate float64, duration time.Duration, max int, logPath string) error {
	switch {
	case logPath == "":
		return errors.New("--log is required")
	case rate <= 0 || rate > 2000:
		return fmt.Errorf("--rate: %v is not between 0 and 2000 requests per second", rate)
	case duration <= 0 || duration > 24*time.Hour:
		return fmt.Errorf("--duration: %v is not between 0 and 24h", duration)
	case max <= 0:
		return fmt.Errorf("--max-requests: %d is not positive", max)
	}
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("--log: %w", err)
	}
	defer f.Close()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, duration)
	defer cancel()

	client := &http.Client{
		Timeout:   5 * time.Second,
		Transport: &http.Transport{MaxIdleConnsPerHost: 256, DisableCompression: true},
	}
	var mu sync.Mutex
	w := bufio.NewWriter(f)
	record := func(sent time.Time, took time.Duration, status int, color string) {
		mu.Lock()
		fmt.Fprintf(w, "%d %d %d %s\n", sent.UnixNano(), took.Microseconds(), status, color)
		mu.Unlock()
	}
	flush := time.NewTicker(100 * time.Millisecond)
	defer flush.Stop()
	go func() {
		for range flush.C {
			mu.Lock()
			w.Flush()
			mu.Unlock()
		}
	}()

	// An open loop: requests leave on schedule whether or not earlier ones
	// have answered, as real users' would; at most 512 wait at once.
	slots := make(chan struct{}, 512)
	var inflight sync.WaitGroup
	interval := time.Duration(float64(time.Second) / rate)
	start := time.Now()
	for i := 0; i < max; i++ {
		at := start.Add(time.Duration(i) * interval)
		if d := time.Until(at); d > 0 {
			select {
			case <-ctx.Done():
			case <-time.After(d):
			}
		}
		if ctx.Err() != nil {
			break
		}
		select {
		case slots <- struct{}{}:
		default:
			record(time.Now(), 0, 0, "-") // too many waiting: counted as failed
			continue
		}
		inflight.Add(1)
		go func() {
			defer func() { <-slots; inflight.Done() }()
			sent := time.Now()
			resp, err := client.Get(url)
			if err != nil {
				record(sent, time.Since(sent), 0, "-")
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			color := resp.Header.Get("X-Vireo-Color")
			if color == "" {
				color = "-"
			}
			record(sent, time.Since(sent), resp.StatusCode, color)
		}()
	}
	inflight.Wait()
	mu.Lock()
	defer mu.Unlock()
	return w.Flush()
}
