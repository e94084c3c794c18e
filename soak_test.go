package tokenerrors_test

import (
	"bufio"
	"flag"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// The soak test runs only when asked for:
//
//	go test -run TestSoak -soak -v .
var soak = flag.Bool("soak", false, "run TestSoak: 500 concurrent clients of mixed traffic for up to a minute")

// TestSoak sends mixed traffic from 500 concurrent clients through the
// hostile gateway, bounded by a request count and a time limit, and
// checks every response. It reports latency percentiles and peak
// memory; the clients, Caddy and the upstreams share this process, so
// the figures are of all three together.
func TestSoak(t *testing.T) {
	if !*soak {
		t.Skip("the soak test runs with -soak")
	}
	const (
		clients  = 500
		requests = 40000
		limit    = 50 * time.Second
	)
	h := startHostile(t)
	kinds := mixedTraffic(t, h)
	tr := &http.Transport{DisableCompression: true, MaxIdleConnsPerHost: clients}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

	var peak atomic.Uint64
	stopSampling := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			if v := heapObjects(); v > peak.Load() {
				peak.Store(v)
			}
			select {
			case <-stopSampling:
				return
			case <-tick.C:
			}
		}
	}()

	var (
		next      atomic.Int64
		failed    atomic.Int64
		mu        sync.Mutex
		latencies = make([]time.Duration, 0, requests)
		wg        sync.WaitGroup
	)
	start := time.Now()
	deadline := start.Add(limit)
	for range clients {
		wg.Go(func() {
			var mine []time.Duration
			for time.Now().Before(deadline) {
				i := next.Add(1) - 1
				if i >= requests {
					break
				}
				began := time.Now()
				err := kinds[i%int64(len(kinds))](client)
				mine = append(mine, time.Since(began))
				if err != nil {
					if failed.Add(1) <= 10 {
						t.Errorf("request %d: %v", i, err)
					}
				}
			}
			mu.Lock()
			latencies = append(latencies, mine...)
			mu.Unlock()
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	close(stopSampling)
	<-sampled

	sent := int64(len(latencies))
	if sent == 0 {
		t.Fatal("no request was sent")
	}
	slices.Sort(latencies)
	pct := func(p float64) time.Duration { return latencies[int(float64(len(latencies)-1)*p)] }
	t.Logf("client, Caddy and upstreams share this process: the figures below are of all three")
	t.Logf("%d requests from %d clients in %v (%.0f/s), %d failed", sent, clients, elapsed.Round(time.Millisecond),
		float64(sent)/elapsed.Seconds(), failed.Load())
	t.Logf("latency p50 %v, p99 %v, max %v", pct(0.50), pct(0.99), latencies[len(latencies)-1])
	t.Logf("peak heap objects %d MiB (sampled every 50ms); VmHWM %s", peak.Load()>>20, vmHWM(t))
	if failed.Load() != 0 {
		t.Errorf("%d of %d responses were not as they should be", failed.Load(), sent)
	}
	if sent < requests && elapsed < limit {
		t.Errorf("only %d of %d requests sent", sent, requests)
	}
}

// vmHWM reads the process's peak resident set size from
// /proc/self/status, or says why it cannot.
func vmHWM(t *testing.T) string {
	t.Helper()
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return "unknown (" + err.Error() + ")"
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}
