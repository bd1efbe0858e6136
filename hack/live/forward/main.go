// Command forward makes ports inside a network namespace reachable from the
// host's loopback: it listens on host addresses and, for each connection,
// dials the paired address inside the namespace. Sockets keep the namespace
// they were made in, so one process serves both sides: the dials happen on
// one OS thread that entered the namespace.
//
//	forward --netns vireo-live 127.0.0.1:18080=127.0.0.1:80 ...
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

func main() {
	netns := flag.String("netns", "", "the network namespace (a name under /var/run/netns, or a path)")
	flag.Parse()
	if err := run(*netns, flag.Args()); err != nil {
		fmt.Fprintln(os.Stderr, "forward:", err)
		os.Exit(1)
	}
}

func run(netns string, pairs []string) error {
	if netns == "" {
		return errors.New("--netns is required")
	}
	if len(pairs) == 0 {
		return errors.New("give at least one HOST_ADDR=NAMESPACE_ADDR pair")
	}
	path := netns
	if !strings.Contains(path, "/") {
		path = "/var/run/netns/" + netns
	}
	d, err := newDialer(path)
	if err != nil {
		return fmt.Errorf("--netns %s: %w", netns, err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var wg sync.WaitGroup
	for _, pair := range pairs {
		from, to, ok := strings.Cut(pair, "=")
		if !ok || from == "" || to == "" {
			return fmt.Errorf("%q: want HOST_ADDR=NAMESPACE_ADDR", pair)
		}
		ln, err := net.Listen("tcp", from)
		if err != nil {
			return fmt.Errorf("%s: %w", pair, err)
		}
		go func() { <-ctx.Done(); ln.Close() }()
		log.Printf("forward: %s -> %s in %s", from, to, netns)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				go pipe(c, d, to)
			}
		}()
	}
	wg.Wait()
	return nil
}

func pipe(c net.Conn, d *dialer, to string) {
	defer c.Close()
	up, err := d.dial(to)
	if err != nil {
		log.Printf("forward: %s: %v", to, err)
		return
	}
	defer up.Close()
	done := make(chan struct{}, 2)
	cp := func(dst, src net.Conn) {
		io.Copy(dst, src)
		if tc, ok := dst.(*net.TCPConn); ok {
			tc.CloseWrite()
		}
		done <- struct{}{}
	}
	go cp(up, c)
	go cp(c, up)
	<-done
	<-done
}

// dialer makes TCP connections from inside a namespace: one goroutine,
// locked to an OS thread that entered the namespace, serves every dial.
// The thread never leaves it; it ends with the process.
type dialer struct{ reqs chan dialReq }

type dialReq struct {
	addr  string
	reply chan dialResult
}

type dialResult struct {
	c   net.Conn
	err error
}

func newDialer(path string) (*dialer, error) {
	d := &dialer{reqs: make(chan dialReq)}
	ready := make(chan error)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread is discarded with its namespace
		f, err := os.Open(path)
		if err != nil {
			ready <- err
			return
		}
		err = unix.Setns(int(f.Fd()), unix.CLONE_NEWNET)
		f.Close()
		ready <- err
		if err != nil {
			return
		}
		for r := range d.reqs {
			// The socket is created here, on this thread, so in the
			// namespace; the connect that follows may finish anywhere.
			c, err := net.DialTimeout("tcp", r.addr, 5*time.Second)
			r.reply <- dialResult{c, err}
		}
	}()
	if err := <-ready; err != nil {
		return nil, err
	}
	return d, nil
}

func (d *dialer) dial(addr string) (net.Conn, error) {
	r := dialReq{addr: addr, reply: make(chan dialResult, 1)}
	d.reqs <- r
	res := <-r.reply
	return res.c, res.err
}
