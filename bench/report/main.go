// Command report turns the raw results of bench/load into
// BENCHMARKS.md and an SVG chart. It reads, from the results
// directory:
//
//	runs.tsv     round mix config rps p50_us p99_us requests non2xx socket_errors cpu_us_per_req
//	memory.tsv   round config VmRSS_at_start VmHWM_after_low VmHWM_after_high (bytes)
//	machine.tsv  name value
//	command.txt  the command line that produced them
//
// It uses only the standard library, so it runs wherever Go does.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"html"
	"log"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// The gateways and the traffic mixes, in the order they are shown.
var (
	configs = []struct{ id, name string }{
		{"A", "Caddy reverse_proxy"},
		{"B", "Caddy token_errors + reverse_proxy"},
		{"C", "Caddy reverse_proxy + handle_response"},
		{"D", "NGINX proxy_intercept_errors"},
	}
	mixes = []struct{ id, name string }{
		{"success", "all success"},
		{"errors", "all 400 errors"},
		{"mixed", "90% success / 10% errors"},
	}
	colors = map[string]string{"A": "#4e79a7", "B": "#f28e2b", "C": "#59a14f", "D": "#b07aa1"}
)

// run is one wrk run against one gateway.
type run struct {
	round                 string
	rps, p50, p99, cpu    float64
	requests, non2xx, bad int64
}

// cell is the medians of one gateway under one mix. vsA is the
// median, over the rounds, of its requests/s divided by A's in the
// same round: runs next to each other share the machine's state, so
// the paired ratio is steadier than a ratio of medians.
type cell struct {
	rps, p50, p99, cpu  float64
	vsA, vsAMin, vsAMax float64
	runs                int
	non2xx, bad         int64
	requests            int64
}

func main() {
	dir := flag.String("results", "", "directory holding runs.tsv, memory.tsv, machine.tsv and command.txt")
	out := flag.String("out", "BENCHMARKS.md", "Markdown file to write")
	svg := flag.String("svg", "bench/results/chart.svg", "SVG chart to write")
	flag.Parse()
	if *dir == "" {
		log.Fatal("-results is required")
	}

	runs, err := readRuns(filepath.Join(*dir, "runs.tsv"))
	if err != nil {
		log.Fatal(err)
	}
	memory, err := readMemory(filepath.Join(*dir, "memory.tsv"))
	if err != nil {
		log.Fatal(err)
	}
	machine, err := readPairs(filepath.Join(*dir, "machine.tsv"))
	if err != nil {
		log.Fatal(err)
	}
	command, err := os.ReadFile(filepath.Join(*dir, "command.txt"))
	if err != nil {
		log.Fatal(err)
	}

	cells := summarise(runs)
	if err := os.MkdirAll(filepath.Dir(*svg), 0o755); err != nil {
		log.Fatal(err)
	}
	if err := os.WriteFile(*svg, chart(cells), 0o644); err != nil {
		log.Fatal(err)
	}
	rel, err := filepath.Rel(filepath.Dir(*out), *svg)
	if err != nil {
		rel = *svg
	}
	md := markdown(cells, memory, machine, strings.TrimSpace(string(command)), filepath.ToSlash(rel))
	if err := os.WriteFile(*out, md, 0o644); err != nil {
		log.Fatal(err)
	}
}

// readRuns reads runs.tsv, keyed by mix and then config.
func readRuns(path string) (map[string]map[string][]run, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	runs := map[string]map[string][]run{}
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		fs := strings.Split(sc.Text(), "\t")
		if len(fs) != 10 {
			return nil, fmt.Errorf("%s:%d: want 10 fields, got %d", path, line, len(fs))
		}
		r := run{round: fs[0]}
		var errs [7]error
		r.rps, errs[0] = strconv.ParseFloat(fs[3], 64)
		r.p50, errs[1] = strconv.ParseFloat(fs[4], 64)
		r.p99, errs[2] = strconv.ParseFloat(fs[5], 64)
		r.requests, errs[3] = strconv.ParseInt(fs[6], 10, 64)
		r.non2xx, errs[4] = strconv.ParseInt(fs[7], 10, 64)
		r.bad, errs[5] = strconv.ParseInt(fs[8], 10, 64)
		r.cpu, errs[6] = strconv.ParseFloat(fs[9], 64)
		for _, err := range errs {
			if err != nil {
				return nil, fmt.Errorf("%s:%d: %v", path, line, err)
			}
		}
		mix, config := fs[1], fs[2]
		if runs[mix] == nil {
			runs[mix] = map[string][]run{}
		}
		runs[mix][config] = append(runs[mix][config], r)
	}
	return runs, sc.Err()
}

// memRun is one fresh gateway's memory readings, in bytes.
type memRun struct{ idle, low, high float64 }

// readMemory reads memory.tsv, keyed by config.
func readMemory(path string) (map[string][]memRun, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	runs := map[string][]memRun{}
	for i, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		fs := strings.Split(line, "\t")
		if len(fs) != 5 {
			return nil, fmt.Errorf("%s:%d: want 5 fields, got %d", path, i+1, len(fs))
		}
		var v [3]float64
		for j := range v {
			if v[j], err = strconv.ParseFloat(fs[j+2], 64); err != nil {
				return nil, fmt.Errorf("%s:%d: %v", path, i+1, err)
			}
		}
		runs[fs[1]] = append(runs[fs[1]], memRun{v[0], v[1], v[2]})
	}
	return runs, nil
}

// readPairs reads a file of tab-separated name and value lines.
func readPairs(path string) (map[string]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	pairs := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if name, value, ok := strings.Cut(line, "\t"); ok {
			pairs[name] = value
		}
	}
	return pairs, nil
}

func summarise(runs map[string]map[string][]run) map[string]map[string]cell {
	cells := map[string]map[string]cell{}
	for mix, byConfig := range runs {
		cells[mix] = map[string]cell{}
		for config, rs := range byConfig {
			c := cell{runs: len(rs)}
			pick := func(f func(run) float64) float64 {
				v := make([]float64, len(rs))
				for i, r := range rs {
					v[i] = f(r)
				}
				return median(v)
			}
			c.rps = pick(func(r run) float64 { return r.rps })
			c.p50 = pick(func(r run) float64 { return r.p50 })
			c.p99 = pick(func(r run) float64 { return r.p99 })
			c.cpu = pick(func(r run) float64 { return r.cpu })
			var ratios []float64
			for _, r := range rs {
				for _, a := range byConfig["A"] {
					if a.round == r.round && a.rps > 0 {
						ratios = append(ratios, r.rps/a.rps)
					}
				}
			}
			c.vsA = median(ratios)
			if len(ratios) > 0 {
				c.vsAMin, c.vsAMax = slices.Min(ratios), slices.Max(ratios)
			}
			for _, r := range rs {
				c.requests += r.requests
				c.non2xx += r.non2xx
				c.bad += r.bad
			}
			cells[mix][config] = c
		}
	}
	return cells
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	slices.Sort(v)
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

func markdown(cells map[string]map[string]cell, memory map[string][]memRun, machine map[string]string, command, svg string) []byte {
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }

	p("# Benchmarks\n\n")
	p("Written by `bench/load` on %s; do not edit by hand, run it again.\n\n", machine["date"])
	p("    %s\n\n", command)

	p("## Machine\n\n")
	p("| | |\n| --- | --- |\n")
	for _, k := range []string{"nproc", "cpu", "kernel", "go", "caddy", "nginx", "wrk", "pinning", "loadavg_start", "loadavg_end"} {
		p("| %s | %s |\n", k, strings.ReplaceAll(machine[k], "|", "\\|"))
	}
	p("\n")

	p("## Setup\n\n")
	p("One upstream (`bench/upstream`, Go net/http) answers `POST /ok` with a 200 token response and " +
		"`POST /err` with the documented 400 `text/plain` body `Invalid Code`. Every gateway proxies to it " +
		"with HTTP/1.1 keep-alive on both sides:\n\n")
	for _, c := range configs {
		p("- **%s**: %s (`bench/conf`)\n", c.id, c.name)
	}
	p("\nLoad comes from wrk, one thread and %s connections, with `bench/mix.lua`: every run uses the same "+
		"script, which sends every Nth request to `/err` by a counter (N=0: all success, N=1: all errors, "+
		"N=10: exactly 10%% errors), so the generator does the same work for every gateway. "+
		"Each run lasts %s. Runs alternate A B C D, mix by mix, for %s rounds, so drift on the machine "+
		"falls on all four alike; the tables give the median of the rounds, and `vs A` the median of "+
		"each round's ratio to A's run of the same round and mix. `cpu/req` is the gateway's own "+
		"CPU time (user + system, from /proc) divided by the requests it answered.\n\n",
		machine["connections"], machine["duration"], machine["rounds"])

	p("## Throughput and latency\n\n")
	for _, m := range mixes {
		p("### %s\n\n", m.name)
		p("| gateway | requests/s | vs A | vs A, lowest–highest round | p50 | p99 | cpu/req | non-2xx | socket errors |\n")
		p("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n")
		for _, c := range configs {
			x, ok := cells[m.id][c.id]
			if !ok {
				continue
			}
			p("| %s %s | %.0f | %.3f | %.2f–%.2f | %s | %s | %.1f µs | %.1f%% | %d |\n", c.id, c.name, x.rps,
				x.vsA, x.vsAMin, x.vsAMax, micros(x.p50), micros(x.p99), x.cpu,
				100*ratio(float64(x.non2xx), float64(x.requests)), x.bad)
		}
		p("\n")
	}
	p("![median requests/s and p99 latency per gateway and mix](%s)\n\n", svg)

	p("## Targets\n\n")
	p("| target | measured | met |\n| --- | ---: | --- |\n")
	target := func(name string, got float64, format string, ok bool) {
		p("| %s | "+format+" | %s |\n", name, got, yesNo(ok))
	}
	s, e := cells["success"], cells["errors"]
	r := s["B"].vsA
	target("B/A >= 0.98, all success", r, "%.3f", r >= 0.98)
	r = e["B"].vsA
	target("B/A >= 0.95, all errors", r, "%.3f", r >= 0.95)
	r = ratio(e["B"].vsA, e["C"].vsA)
	target("B ahead of C, all errors (B/C)", r, "%.3f", r > 1)
	r = ratio(e["B"].vsA, e["D"].vsA)
	target("B ahead of D, all errors (B/D)", r, "%.3f", r > 1)
	p("\n")
	p("The ratios are medians of same-round ratios to A (B/C and B/D divide those medians). "+
		"The machine's load average was %s when the run started and %s when it ended (other work "+
		"shares this machine and is not pinned); when it is well above the 2 cores, the rounds "+
		"disagree by more than the differences measured here, and `cpu/req` is the steadier figure.\n\n",
		machine["loadavg_start"], machine["loadavg_end"])

	p("## Memory\n\n")
	low, _ := strconv.ParseFloat(machine["mem_low"], 64)
	high, _ := strconv.ParseFloat(machine["mem_high"], 64)
	p("A fresh B gateway served the all-errors mix with %s connections for %s, then with %s for %s, "+
		"and VmHWM (peak resident set, /proc/PID/status) was read after each; it never goes down, so the "+
		"second reading is the peak with %s connections. A fresh A went through the same, in alternation "+
		"with B, %s rounds each; the table gives the medians.\n\n",
		machine["mem_low"], machine["mem_duration"], machine["mem_high"], machine["mem_duration"],
		machine["mem_high"], machine["mem_rounds"])
	type memCell struct{ idle, low, high, slope float64 }
	mc := map[string]memCell{}
	for _, id := range []string{"A", "B"} {
		var idle, lo, hi, slope []float64
		for _, r := range memory[id] {
			idle, lo, hi = append(idle, r.idle), append(lo, r.low), append(hi, r.high)
			slope = append(slope, (r.high-r.low)/(high-low))
		}
		mc[id] = memCell{median(idle), median(lo), median(hi), median(slope)}
	}
	p("| | A reverse_proxy | B token_errors |\n| --- | ---: | ---: |\n")
	p("| VmRSS at start | %s | %s |\n", mib(mc["A"].idle), mib(mc["B"].idle))
	p("| VmHWM after %s connections | %s | %s |\n", machine["mem_low"], mib(mc["A"].low), mib(mc["B"].low))
	p("| **VmHWM after %s connections** | %s | **%s** |\n", machine["mem_high"], mib(mc["A"].high), mib(mc["B"].high))
	p("| bytes per in-flight request (slope) | %.0f | %.0f |\n", mc["A"].slope, mc["B"].slope)
	p("\n")
	p("Bytes per in-flight error = (VmHWM after %s connections − VmHWM after %s) ÷ (%s − %s): with one "+
		"request outstanding on every connection, the extra connections are extra requests in flight. The "+
		"figure holds everything a proxied request costs the gateway (goroutine stacks, bufio buffers, "+
		"reverse_proxy's copy buffer, the upstream connection, and the garbage the collector lets grow at "+
		"GOGC=100), not only the plugin's. What token_errors adds is B's slope minus A's: **%.0f bytes** in "+
		"this run, which is within the noise of resident-set readings. The Go benchmark `BenchmarkError` "+
		"(see `bench_test.go`) counts the bytes one error allocates in the handler, an upper bound on what "+
		"it holds at once.\n\n",
		machine["mem_high"], machine["mem_low"], machine["mem_high"], machine["mem_low"], mc["B"].slope-mc["A"].slope)
	return []byte(b.String())
}

func micros(us float64) string {
	if us >= 1000 {
		return fmt.Sprintf("%.2f ms", us/1000)
	}
	return fmt.Sprintf("%.0f µs", us)
}

func mib(n float64) string { return fmt.Sprintf("%.1f MiB", n/(1<<20)) }

func yesNo(ok bool) string {
	if ok {
		return "yes"
	}
	return "**no**"
}

// chart draws two grouped bar charts side by side: median requests/s
// (labelled with the ratio to A) and median p99 latency, one group per
// mix and one bar per gateway.
func chart(cells map[string]map[string]cell) []byte {
	const (
		width, height = 960, 420
		panelW        = 440
		top, bottom   = 60, 340
		left          = 60
	)
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	p(`<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n",
		width, height, width, height)
	p(`<rect width="100%%" height="100%%" fill="white"/>` + "\n")

	panel := func(x0 int, title string, value func(cell) float64, label func(mix string, c cell) string) {
		maxV := 0.0
		for _, m := range mixes {
			for _, c := range configs {
				maxV = max(maxV, value(cells[m.id][c.id]))
			}
		}
		if maxV == 0 {
			maxV = 1
		}
		p(`<text x="%d" y="30" font-size="15" font-weight="bold">%s</text>`+"\n", x0, html.EscapeString(title))
		p(`<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#333"/>`+"\n", x0, bottom, x0+panelW-left, bottom)
		for i := 0; i <= 4; i++ {
			v := maxV * float64(i) / 4
			y := bottom - int(float64(bottom-top)*float64(i)/4)
			p(`<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#ddd"/>`+"\n", x0, y, x0+panelW-left, y)
			p(`<text x="%d" y="%d" text-anchor="end" fill="#555">%s</text>`+"\n", x0-4, y+4, short(v))
		}
		groupW := (panelW - left) / len(mixes)
		barW := (groupW - 20) / len(configs)
		for gi, m := range mixes {
			gx := x0 + gi*groupW + 10
			for ci, c := range configs {
				x := cells[m.id][c.id]
				h := int(float64(bottom-top) * value(x) / maxV)
				bx := gx + ci*barW
				p(`<rect x="%d" y="%d" width="%d" height="%d" fill="%s"><title>%s %s: %s</title></rect>`+"\n",
					bx, bottom-h, barW-2, h, colors[c.id], c.id, m.name, short(value(x)))
				p(`<text x="%d" y="%d" text-anchor="middle" font-size="10">%s</text>`+"\n",
					bx+barW/2-1, bottom-h-4, html.EscapeString(label(m.id, x)))
			}
			p(`<text x="%d" y="%d" text-anchor="middle">%s</text>`+"\n", gx+groupW/2-10, bottom+18, html.EscapeString(m.name))
		}
	}
	panel(left, "median requests/s (label: ratio to A)", func(c cell) float64 { return c.rps },
		func(_ string, c cell) string { return fmt.Sprintf("%.2f", c.vsA) })
	panel(left+panelW+40, "median p99 latency (ms)", func(c cell) float64 { return c.p99 / 1000 },
		func(_ string, c cell) string { return fmt.Sprintf("%.1f", c.p99/1000) })

	for i, c := range configs {
		x := left + i*220
		p(`<rect x="%d" y="%d" width="12" height="12" fill="%s"/>`+"\n", x, height-40, colors[c.id])
		p(`<text x="%d" y="%d">%s %s</text>`+"\n", x+16, height-30, c.id, html.EscapeString(c.name))
	}
	p("</svg>\n")
	return []byte(b.String())
}

// short formats an axis value: 12345 as 12.3k.
func short(v float64) string {
	switch {
	case v >= 1000:
		return fmt.Sprintf("%.1fk", v/1000)
	case v >= 10:
		return fmt.Sprintf("%.0f", v)
	default:
		return fmt.Sprintf("%.1f", v)
	}
}
