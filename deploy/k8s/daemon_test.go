package k8s_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// repoRoot is the repository's root, seen from this module's directory.
const repoRoot = "../.."

// daemonBin builds encoursd from this tree once per test binary (ENCOURSD_BIN names a
// prebuilt one instead).
var daemonBin struct {
	once sync.Once
	path string
	err  error
}

var tempDirs []string

func TestMain(m *testing.M) {
	code := m.Run()
	for _, d := range tempDirs {
		_ = os.RemoveAll(d)
	}
	os.Exit(code)
}

// encoursd returns the path of the daemon's binary.
func encoursd(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("ENCOURSD_BIN"); p != "" {
		return p
	}
	daemonBin.once.Do(func() {
		dir, err := os.MkdirTemp("", "encours-deploy-")
		if err != nil {
			daemonBin.err = err
			return
		}
		tempDirs = append(tempDirs, dir)
		bin := filepath.Join(dir, "encoursd")
		cmd := exec.Command("go", "build", "-o", bin, "./cmd/encoursd")
		cmd.Dir = repoRoot
		if out, err := cmd.CombinedOutput(); err != nil {
			daemonBin.err = fmt.Errorf("go build ./cmd/encoursd: %v\n%s", err, out)
			return
		}
		daemonBin.path = bin
	})
	if daemonBin.err != nil {
		t.Fatal(daemonBin.err)
	}
	return daemonBin.path
}

// flagLine matches a flag in the output of flag.PrintDefaults: "  -name type" for a flag
// that takes a value, "  -name" for a boolean one.
var flagLine = regexp.MustCompile(`^  -([^\s=]+)(?: (\S+))?(?:\t|$)`)

// daemonFlags are encoursd's flags, read from `encoursd --help`: name -> takes a value.
func daemonFlags(t *testing.T) map[string]bool {
	t.Helper()
	out, err := exec.Command(encoursd(t), "--help").CombinedOutput()
	if err != nil {
		t.Fatalf("encoursd --help: %v\n%s", err, out)
	}
	flags := map[string]bool{}
	for _, line := range strings.Split(string(out), "\n") {
		if m := flagLine.FindStringSubmatch(line); m != nil {
			flags[m[1]] = m[2] != ""
		}
	}
	// A parser that read nothing would let every argument through.
	for _, name := range []string{"data", "listen", "store", "kurrentdb-url"} {
		if _, ok := flags[name]; !ok {
			t.Fatalf("encoursd --help lists no -%s: the help format changed?\n%s", name, out)
		}
	}
	return flags
}

// scaleOutFlags are the flags of the scale-out set-up (design §Scale-out) that a tree
// before them lacks.
var scaleOutFlags = map[string]bool{"role": true, "relay": true, "kafka-brokers": true, "kafka-group": true,
	"kafka-partitions": true, "kafka-replication": true, "kafka-topic-prefix": true}

// relays reports whether a command line makes encoursd the relay node: --role api with
// --relay on (its default), the one process of a deployment that publishes the log to
// encours.events and runs the alerts.
func relays(p parsedArgs) bool {
	return p.values["role"] == "api" && p.values["relay"] != "off"
}

// parsedArgs is a container's command line as encoursd's flag package reads it.
type parsedArgs struct {
	values  map[string]string // flag name -> value ("true" for a boolean given alone)
	unknown []string          // flags encoursd does not define
	errs    []string          // positional arguments, missing values, bad booleans
}

// parseArgs reads args the way Go's flag package does: -name or --name, =value or the
// next argument for a flag that takes a value.
func parseArgs(flags map[string]bool, args []string) parsedArgs {
	p := parsedArgs{values: map[string]string{}}
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" || a == "-" || !strings.HasPrefix(a, "-") {
			p.errs = append(p.errs, fmt.Sprintf("positional argument %q: encoursd takes none", a))
			continue
		}
		name := strings.TrimPrefix(strings.TrimPrefix(a, "-"), "-")
		if name == "" || name[0] == '-' || name[0] == '=' {
			p.errs = append(p.errs, fmt.Sprintf("bad flag syntax %q", a))
			continue
		}
		value, hasValue := "", false
		if k := strings.IndexByte(name, '='); k >= 0 {
			name, value, hasValue = name[:k], name[k+1:], true
		}
		takes, known := flags[name]
		switch {
		case !known:
			p.unknown = append(p.unknown, name)
			if !hasValue && i+1 < len(args) && !strings.HasPrefix(args[i+1], "-") {
				i++ // its value, most likely
			}
			continue
		case takes && !hasValue:
			if i+1 >= len(args) {
				p.errs = append(p.errs, fmt.Sprintf("flag -%s needs a value", name))
				continue
			}
			i++
			value = args[i]
		case !takes && hasValue:
			if _, err := strconv.ParseBool(value); err != nil {
				p.errs = append(p.errs, fmt.Sprintf("flag -%s is boolean, not %q", name, value))
			}
		case !takes:
			value = "true"
		}
		if _, dup := p.values[name]; dup {
			p.errs = append(p.errs, fmt.Sprintf("flag -%s given twice", name))
		}
		p.values[name] = value
	}
	return p
}

// checkArgs reports on t what is wrong with one command line of encoursd. Flags of the
// scale-out set-up are only reported when the daemon of this tree defines -role: before
// that branch is merged they are returned as pending instead.
func checkArgs(t *testing.T, where string, flags map[string]bool, args []string) (p parsedArgs, pending []string) {
	t.Helper()
	p = parseArgs(flags, args)
	for _, e := range p.errs {
		t.Errorf("%s: %s", where, e)
	}
	_, haveScaleOut := flags["role"]
	for _, name := range p.unknown {
		if !haveScaleOut && scaleOutFlags[name] {
			pending = append(pending, name)
			continue
		}
		t.Errorf("%s: encoursd defines no flag -%s (encoursd --help)", where, name)
	}
	return p, pending
}

// runningDaemon is encoursd started on a temporary directory.
type runningDaemon struct {
	base  string // http://127.0.0.1:port
	token string // its admin token
}

// startDaemon starts encoursd with the embedded store in a temporary directory, on a free
// port, with extra arguments, and stops it with SIGTERM at the end of the test, expecting
// exit status 0 (the graceful shutdown Kubernetes and docker stop rely on).
func startDaemon(t *testing.T, extra ...string) runningDaemon {
	t.Helper()
	bin := encoursd(t)
	token := make([]byte, 24)
	_, _ = rand.Read(token)
	d := runningDaemon{token: hex.EncodeToString(token)}
	args := append([]string{"--data", t.TempDir(), "--listen", "127.0.0.1:0"}, extra...)
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "ENCOURS_ADMIN_TOKEN="+d.token)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if rest, ok := strings.CutPrefix(sc.Text(), "encoursd listening on "); ok {
				addr <- rest
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
		exited <- cmd.Wait()
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-exited:
			if err != nil {
				t.Errorf("encoursd after SIGTERM: %v (want exit 0)\n%s", err, stderr.String())
			}
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			t.Errorf("encoursd still running 30 s after SIGTERM\n%s", stderr.String())
		}
	})
	select {
	case d.base = <-addr:
	case err := <-exited:
		t.Fatalf("encoursd %s exited before listening: %v\n%s", strings.Join(args, " "), err, stderr.String())
	case <-time.After(60 * time.Second):
		t.Fatalf("encoursd did not listen within 60 s\n%s", stderr.String())
	}
	return d
}

// get asks the daemon for path, with its admin token when auth is set, and returns the
// status and body. /readyz may answer 503 while the projections start: get retries a
// 503 for up to 30 s.
func (d runningDaemon) get(t *testing.T, path string, auth bool) (int, string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, d.base+path, nil)
		if err != nil {
			cancel()
			t.Fatal(err)
		}
		if auth {
			req.Header.Set("Authorization", "Bearer "+d.token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			cancel()
			t.Fatalf("GET %s: %v", path, err)
		}
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		_ = resp.Body.Close()
		cancel()
		if resp.StatusCode != http.StatusServiceUnavailable || time.Now().After(deadline) {
			return resp.StatusCode, string(body)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// listenPort is the port of an encoursd --listen address (":8080", "0.0.0.0:8080").
func listenPort(addr string) (int, error) {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(port)
}

// dockerfile is what the tests compare with deploy/Dockerfile: the runtime user and port.
type dockerfile struct {
	uid    int64
	expose []int
}

func readDockerfile(t *testing.T) dockerfile {
	t.Helper()
	b, err := os.ReadFile("../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	var df dockerfile
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		switch strings.ToUpper(f[0]) {
		case "USER":
			user, _, _ := strings.Cut(f[1], ":")
			if df.uid, err = strconv.ParseInt(user, 10, 64); err != nil {
				t.Fatalf("deploy/Dockerfile: USER %s: want a numeric uid (runAsNonRoot needs one)", f[1])
			}
		case "EXPOSE":
			for _, p := range f[1:] {
				n, err := strconv.Atoi(strings.TrimSuffix(p, "/tcp"))
				if err != nil {
					t.Fatalf("deploy/Dockerfile: EXPOSE %s", p)
				}
				df.expose = append(df.expose, n)
			}
		}
	}
	if df.uid <= 0 {
		t.Fatalf("deploy/Dockerfile: want a USER with a non-zero uid, got %d", df.uid)
	}
	if len(df.expose) == 0 {
		t.Fatal("deploy/Dockerfile: no EXPOSE")
	}
	return df
}
