package k8s_test

import (
	"crypto/rand"
	"encoding/hex"
	"os"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

// TestProbesPerRole starts encoursd in the api and projector roles the manifests use and asks
// it the probe paths without a token, as the kubelet does. The api role needs a Kafka broker
// (ENCOURS_KAFKA_BROKERS, which CI sets); the projector role also needs KurrentDB
// (ENCOURS_KURRENTDB_URL). Topics and groups get a prefix of their own.
func TestProbesPerRole(t *testing.T) {
	if _, ok := daemonFlags(t)["role"]; !ok {
		t.Skip("encoursd of this tree defines no -role (the scale-out branch is not merged yet)")
	}
	brokers := os.Getenv("ENCOURS_KAFKA_BROKERS")
	kurrentURL := os.Getenv("ENCOURS_KURRENTDB_URL")
	_, objs := manifests(t)
	paths := map[string]bool{}
	_, cs := daemonContainers(objs)
	for _, c := range cs {
		for _, pr := range []*corev1.Probe{c.StartupProbe, c.LivenessProbe, c.ReadinessProbe} {
			if pr != nil && pr.HTTPGet != nil {
				paths[pr.HTTPGet.Path] = true
			}
		}
	}
	suffix := make([]byte, 4)
	_, _ = rand.Read(suffix)
	prefix := "deploytest-" + hex.EncodeToString(suffix) + "."
	for _, role := range []struct {
		name  string
		needs string
		args  []string
	}{
		{"api", brokers, []string{"--role", "api", "--relay", "off", "--kafka-brokers", brokers, "--kafka-topic-prefix", prefix}},
		{"projector", cond(brokers != "" && kurrentURL != "", "yes"), []string{"--role", "projector", "--store", "kurrentdb",
			"--kurrentdb-url", kurrentURL, "--kafka-brokers", brokers, "--kafka-topic-prefix", prefix, "--kafka-group", prefix + "projectors"}},
	} {
		t.Run(role.name, func(t *testing.T) {
			if role.needs == "" {
				t.Skipf("--role %s needs ENCOURS_KAFKA_BROKERS (a Kafka broker)%s", role.name,
					cond(role.name == "projector", " and ENCOURS_KURRENTDB_URL (a KurrentDB)"))
			}
			d := startDaemon(t, role.args...)
			for path := range paths {
				if code, body := d.get(t, path, false); code != 200 {
					t.Errorf("--role %s: GET %s without a token: %d %s, want 200", role.name, path, code, body)
				}
			}
			if code, body := d.get(t, "/metrics", true); code != 200 {
				t.Errorf("--role %s: GET /metrics with a token: %d %.200s, want 200", role.name, code, body)
			}
		})
	}
}

func cond(ok bool, s string) string {
	if ok {
		return s
	}
	return ""
}
