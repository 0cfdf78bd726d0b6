package k8s_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// composeFile is the part of the Compose specification deploy/docker-compose.yml uses.
// Decoding strictly into it makes a misspelt key fail; a key the file starts to use is
// added here.
type composeFile struct {
	Name     string                    `json:"name"`
	Services map[string]composeService `json:"services"`
	Volumes  map[string]*struct{}      `json:"volumes"`
	Configs  map[string]struct {
		Content string `json:"content,omitempty"`
		File    string `json:"file,omitempty"`
	} `json:"configs"`
}

type composeService struct {
	Image string `json:"image"`
	Build *struct {
		Context    string `json:"context"`
		Dockerfile string `json:"dockerfile"`
	} `json:"build,omitempty"`
	Restart         string            `json:"restart,omitempty"`
	Environment     map[string]string `json:"environment,omitempty"`
	ReadOnly        bool              `json:"read_only,omitempty"`
	Tmpfs           []string          `json:"tmpfs,omitempty"`
	SecurityOpt     []string          `json:"security_opt,omitempty"`
	CapDrop         []string          `json:"cap_drop,omitempty"`
	StopGracePeriod string            `json:"stop_grace_period,omitempty"`
	DependsOn       map[string]struct {
		Condition string `json:"condition"`
	} `json:"depends_on,omitempty"`
	Entrypoint []string `json:"entrypoint,omitempty"`
	Command    []string `json:"command,omitempty"`
	Volumes    []string `json:"volumes,omitempty"`
	Networks   map[string]struct {
		Aliases []string `json:"aliases,omitempty"`
	} `json:"networks,omitempty"`
	Ports       []string `json:"ports,omitempty"`
	Healthcheck *struct {
		Test        []string `json:"test"`
		Interval    string   `json:"interval,omitempty"`
		Timeout     string   `json:"timeout,omitempty"`
		Retries     int      `json:"retries,omitempty"`
		StartPeriod string   `json:"start_period,omitempty"`
	} `json:"healthcheck,omitempty"`
	Configs []struct {
		Source string `json:"source"`
		Target string `json:"target"`
	} `json:"configs,omitempty"`
}

// monitoringPaths are the bind mounts of Prometheus' and Grafana's configuration, which the
// monitoring set-up provides.
var monitoringPaths = []string{"prometheus/", "grafana/"}

// readCompose decodes deploy/docker-compose.yml strictly, extension fields (x-...) aside.
func readCompose(t *testing.T) composeFile {
	t.Helper()
	b, err := os.ReadFile("../docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	j, err := yaml.YAMLToJSONStrict(b)
	if err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(j, &top); err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	for k := range top {
		if strings.HasPrefix(k, "x-") {
			delete(top, k)
		}
	}
	rest, _ := json.Marshal(top)
	var c composeFile
	if err := decodeStrict(rest, &c); err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	return c
}

func TestComposeDecodesStrictly(t *testing.T) {
	c := readCompose(t)
	if len(c.Services) == 0 {
		t.Fatal("docker-compose.yml: no services")
	}
	// The checker refuses a misspelt key and YAML 1.1's unquoted on/off, which YAML reads
	// as booleans (compose would pass "true" to --relay).
	b, _ := os.ReadFile("../docker-compose.yml")
	for _, bad := range []struct{ old, new string }{
		{"stop_grace_period:", "stop_grace_periods:"},
		{`--relay, "off"`, `--relay, off`},
	} {
		s := strings.Replace(string(b), bad.old, bad.new, 1)
		if s == string(b) {
			t.Fatalf("%q is not in docker-compose.yml", bad.old)
		}
		j, err := yaml.YAMLToJSONStrict([]byte(s))
		if err == nil {
			var top map[string]json.RawMessage
			_ = json.Unmarshal(j, &top)
			delete(top, "x-encoursd")
			rest, _ := json.Marshal(top)
			err = decodeStrict(rest, &composeFile{})
		}
		if err == nil {
			t.Errorf("docker-compose.yml with %q -> %q decodes without error", bad.old, bad.new)
		}
	}
}

func TestComposeServicesUseDaemonFlags(t *testing.T) {
	c := readCompose(t)
	df := readDockerfile(t)
	flags := daemonFlags(t)
	names := slices.Sorted(func(yield func(string) bool) {
		for n := range c.Services {
			if !yield(n) {
				return
			}
		}
	})
	var pending, relayNodes, missingMonitoring []string
	roles := map[string][]string{}
	groups := map[string]bool{}
	dataVolumes := map[string]string{}
	for _, name := range names {
		s := c.Services[name]
		where := "docker-compose.yml: service " + name
		for dep := range s.DependsOn {
			if _, ok := c.Services[dep]; !ok {
				t.Errorf("%s depends on %s, which is no service", where, dep)
			}
		}
		for _, cf := range s.Configs {
			if _, ok := c.Configs[cf.Source]; !ok {
				t.Errorf("%s uses config %s, which the file does not declare", where, cf.Source)
			}
		}
		for _, v := range s.Volumes {
			src, dst, _ := strings.Cut(v, ":")
			dst, _, _ = strings.Cut(dst, ":")
			if strings.HasPrefix(src, ".") || strings.HasPrefix(src, "/") {
				if _, err := os.Stat(filepath.Join("..", src)); err != nil {
					if slices.ContainsFunc(monitoringPaths, func(p string) bool { return strings.HasPrefix(filepath.Clean(src)+"/", filepath.Clean(p)+"/") }) {
						missingMonitoring = append(missingMonitoring, src)
						continue
					}
					t.Errorf("%s mounts %s: %v", where, src, err)
				}
				continue
			}
			if _, ok := c.Volumes[src]; !ok {
				t.Errorf("%s mounts volume %s, which the file does not declare", where, src)
			}
			if dst == "/data" {
				if other, dup := dataVolumes[src]; dup {
					t.Errorf("%s and %s share the volume %s at /data: each node keeps its own state", other, name, src)
				}
				dataVolumes[src] = name
			}
		}
		if s.Build != nil {
			if _, err := os.Stat(filepath.Join("..", s.Build.Context, s.Build.Dockerfile)); err != nil {
				t.Errorf("%s builds %s in %s: %v", where, s.Build.Dockerfile, s.Build.Context, err)
			}
		}
		if !strings.HasPrefix(s.Image, daemonImage+":") {
			continue
		}
		if len(s.Entrypoint) > 0 {
			t.Errorf("%s: entrypoint %v replaces encoursd", where, s.Entrypoint)
		}
		if _, ok := s.Environment["ENCOURS_ADMIN_TOKEN"]; !ok {
			t.Errorf("%s: no ENCOURS_ADMIN_TOKEN: nobody could use the API", where)
		}
		p, pend := checkArgs(t, where, flags, s.Command)
		pending = append(pending, pend...)
		roles[p.values["role"]] = append(roles[p.values["role"]], name)
		if relays(p) {
			relayNodes = append(relayNodes, name)
		}
		if p.values["role"] == "projector" {
			groups[p.values["kafka-group"]] = true
		}
		if p.values["data"] != "/data" {
			t.Errorf("%s: --data %q, want /data (the image's volume)", where, p.values["data"])
		}
		port, err := listenPort(p.values["listen"])
		if err != nil || !slices.Contains(df.expose, port) {
			t.Errorf("%s: --listen %q: want the port deploy/Dockerfile exposes %v", where, p.values["listen"], df.expose)
		}
		for _, pub := range s.Ports {
			if !strings.HasSuffix(pub, fmt.Sprintf(":%d", port)) {
				t.Errorf("%s publishes %s, but encoursd listens on %d", where, pub, port)
			}
		}
		if u := p.values["kurrentdb-url"]; u != "" {
			host, _, err := hostPort(u, "esdb://")
			if dep, ok := s.DependsOn[host]; err != nil || !ok || dep.Condition != "service_healthy" || c.Services[host].Healthcheck == nil {
				t.Errorf("%s: --kurrentdb-url %s: want a service it waits for, healthy (%v)", where, u, err)
			}
		}
		for _, b := range strings.Split(p.values["kafka-brokers"], ",") {
			if b == "" {
				continue
			}
			host, _, err := hostPort(b, "")
			if dep, ok := s.DependsOn[host]; err != nil || !ok || dep.Condition != "service_healthy" {
				t.Errorf("%s: --kafka-brokers %s: want a service it waits for, healthy (%v)", where, b, err)
			}
		}
	}
	if len(pending) > 0 {
		t.Skipf("encoursd of this tree defines no -role: the scale-out flags %v are checked once that branch is merged; every other flag was checked", dedupe(pending))
	}
	if len(roles["api"]) != 2 || len(roles["projector"]) != 2 {
		t.Errorf("encoursd services by role: %v, want two api and two projector nodes", roles)
	}
	if len(relayNodes) != 1 {
		t.Errorf("relay nodes (--role api, --relay on or unset): %v, want exactly one", relayNodes)
	}
	if len(groups) != 1 {
		t.Errorf("projector consumer groups %v: want one group sharing encours.events", slices.Sorted(func(yield func(string) bool) {
			for g := range groups {
				if !yield(g) {
					return
				}
			}
		}))
	}
	if len(missingMonitoring) > 0 {
		sort.Strings(missingMonitoring)
		t.Skipf("the monitoring configuration %v is not in this tree yet (the monitoring set-up provides it); everything else was checked", missingMonitoring)
	}
}
