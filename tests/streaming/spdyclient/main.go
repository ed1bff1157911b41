// Test client for wincri's streaming server over SPDY/3.1, built by the test suite on
// Debian's github.com/docker/spdystream (the SPDY library under kubelet's client stack).
// It speaks the remotecommand and portforward stream conventions the way client-go does.
//
//	spdyclient exec URL [-proto P] [-stdin] [-stdout] [-stderr] [-tty] [-resize WxH]
//	spdyclient portforward URL -port N [-count K]
//	spdyclient drop URL         (opens the exec streams, then vanishes mid-stream)
//
// exec copies its stdin to the stdin stream (FIN at EOF), prints stdout/stderr, and exits
// with the remote exit code decoded from the v4 Status on the error stream (and prints
// "STATUS <json>" on stderr). portforward sends its stdin on each data stream and prints
// what comes back.
package main

import (
	"bufio"
	"crypto/tls"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/docker/spdystream"
)

func die(f string, a ...interface{}) {
	fmt.Fprintf(os.Stderr, "spdyclient: "+f+"\n", a...)
	os.Exit(100)
}

// dial makes the HTTP/1.1 upgrade request and returns the raw connection after 101.
func dial(raw string, protos []string) (net.Conn, string) {
	u, err := url.Parse(raw)
	if err != nil {
		die("url: %v", err)
	}
	var c net.Conn
	if u.Scheme == "https" {
		c, err = tls.Dial("tcp", u.Host, &tls.Config{InsecureSkipVerify: true})
	} else {
		c, err = net.Dial("tcp", u.Host)
	}
	if err != nil {
		die("dial: %v", err)
	}
	req, _ := http.NewRequest("POST", raw, nil)
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "SPDY/3.1")
	for _, p := range protos {
		req.Header.Add("X-Stream-Protocol-Version", p)
	}
	if err := req.Write(c); err != nil {
		die("write request: %v", err)
	}
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, req)
	if err != nil {
		die("read response: %v", err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		body, _ := io.ReadAll(resp.Body)
		fmt.Printf("HTTP %d %s", resp.StatusCode, body)
		os.Exit(resp.StatusCode / 100)
	}
	if br.Buffered() > 0 {
		die("server spoke before the client opened streams")
	}
	return c, resp.Header.Get("X-Stream-Protocol-Version")
}

func open(conn net.Conn) *spdystream.Connection {
	sc, err := spdystream.NewConnection(conn, false)
	if err != nil {
		die("spdy: %v", err)
	}
	go sc.Serve(spdystream.NoOpStreamHandler)
	return sc
}

func stream(sc *spdystream.Connection, h http.Header) *spdystream.Stream {
	s, err := sc.CreateStream(h, nil, false)
	if err != nil {
		die("create stream: %v", err)
	}
	if err := s.WaitTimeout(10 * time.Second); err != nil {
		die("stream reply: %v", err)
	}
	return s
}

func typed(t string) http.Header {
	h := http.Header{}
	h.Set("streamType", t)
	return h
}

type status struct {
	Status  string `json:"status"`
	Message string `json:"message"`
	Reason  string `json:"reason"`
	Details *struct {
		Causes []struct {
			Type    string `json:"reason"`
			Message string `json:"message"`
		} `json:"causes"`
	} `json:"details"`
}

func execCmd(args []string) {
	fs := flag.NewFlagSet("exec", flag.ExitOnError)
	proto := fs.String("proto", "v4.channel.k8s.io", "comma-separated protocols to offer")
	in := fs.Bool("stdin", false, "")
	out := fs.Bool("stdout", true, "")
	errs := fs.Bool("stderr", false, "")
	tty := fs.Bool("tty", false, "")
	resize := fs.String("resize", "", "WxH sent right away")
	drop := fs.Bool("drop", false, "vanish once output arrives")
	fs.Parse(args[1:])
	conn, picked := dial(args[0], strings.Split(*proto, ","))
	fmt.Fprintf(os.Stderr, "PROTO %s\n", picked)
	sc := open(conn)
	errStream := stream(sc, typed("error"))
	var stdin, stdout, stderr, rs *spdystream.Stream
	if *in {
		stdin = stream(sc, typed("stdin"))
	}
	if *out {
		stdout = stream(sc, typed("stdout"))
	}
	if *errs {
		stderr = stream(sc, typed("stderr"))
	}
	if *tty && picked != "v2.channel.k8s.io" && picked != "channel.k8s.io" {
		rs = stream(sc, typed("resize"))
		if *resize != "" {
			var w, h int
			fmt.Sscanf(*resize, "%dx%d", &w, &h)
			json.NewEncoder(rs).Encode(map[string]int{"Width": w, "Height": h})
		}
	}
	if *drop {
		buf := make([]byte, 64)
		stdout.Read(buf)
		os.Stdout.Write(buf)
		conn.Close() // no GOAWAY, no FIN: the client just disappears
		os.Exit(0)
	}
	if stdin != nil {
		go func() {
			io.Copy(stdin, os.Stdin)
			stdin.Close()
		}()
	}
	var wg sync.WaitGroup
	for _, p := range []struct {
		s *spdystream.Stream
		w io.Writer
	}{{stdout, os.Stdout}, {stderr, os.Stderr}} {
		if p.s == nil {
			continue
		}
		wg.Add(1)
		go func(s *spdystream.Stream, w io.Writer) {
			defer wg.Done()
			io.Copy(w, s)
		}(p.s, p.w)
	}
	msg, _ := io.ReadAll(errStream)
	wg.Wait()
	sc.Close()
	fmt.Fprintf(os.Stderr, "STATUS %s\n", msg)
	if len(msg) == 0 {
		os.Exit(0)
	}
	if picked != "v4.channel.k8s.io" {
		os.Exit(99) // older protocols carry only a message
	}
	var st status
	if err := json.Unmarshal(msg, &st); err != nil {
		die("status: %v", err)
	}
	if st.Status == "Success" {
		os.Exit(0)
	}
	if st.Reason == "NonZeroExitCode" && st.Details != nil {
		for _, c := range st.Details.Causes {
			if c.Type == "ExitCode" {
				n, _ := strconv.Atoi(c.Message)
				os.Exit(n)
			}
		}
	}
	os.Exit(98)
}

func portForward(args []string) {
	fs := flag.NewFlagSet("portforward", flag.ExitOnError)
	port := fs.Int("port", 0, "")
	count := fs.Int("count", 1, "connections, one after the other")
	fs.Parse(args[1:])
	conn, _ := dial(args[0], []string{"portforward.k8s.io"})
	sc := open(conn)
	input, _ := io.ReadAll(os.Stdin)
	for i := 0; i < *count; i++ {
		h := http.Header{}
		h.Set("streamType", "error")
		h.Set("port", strconv.Itoa(*port))
		h.Set("requestID", strconv.Itoa(i))
		es := stream(sc, h)
		es.Close() // the client never writes on its error stream
		h.Set("streamType", "data")
		ds := stream(sc, h)
		errc := make(chan []byte)
		go func() {
			m, _ := io.ReadAll(es)
			errc <- m
		}()
		go func() {
			ds.Write(input)
			ds.Close()
		}()
		got, _ := io.ReadAll(ds)
		os.Stdout.Write(got)
		if m := <-errc; len(m) > 0 {
			fmt.Fprintf(os.Stderr, "PFERROR %s\n", m)
		}
	}
	sc.Close()
}

func main() {
	if len(os.Args) < 3 {
		die("usage: spdyclient exec|portforward URL ...")
	}
	switch os.Args[1] {
	case "exec":
		execCmd(os.Args[2:])
	case "portforward":
		portForward(os.Args[2:])
	default:
		die("unknown command %s", os.Args[1])
	}
}
