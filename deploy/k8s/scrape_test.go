package k8s_test

import (
	"os"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/yaml"
)

// scrapeConfig is the part of a Prometheus configuration these tests compare.
type scrapeConfig struct {
	ScrapeConfigs []struct {
		JobName       string `json:"job_name"`
		MetricsPath   string `json:"metrics_path"`
		KubernetesSDs []struct {
			Selectors []struct {
				Role  string `json:"role"`
				Label string `json:"label"`
			} `json:"selectors"`
		} `json:"kubernetes_sd_configs"`
	} `json:"scrape_configs"`
}

// TestScrapeConfigFindsTheDaemons checks the ConfigMap encours-prometheus-scrape: each job's
// pod selector is valid and selects encoursd pods that serve its metrics path, every
// encoursd pod is scraped, and the job names are those of deploy/prometheus/prometheus.yml,
// whose rules and dashboards select on them.
func TestScrapeConfigFindsTheDaemons(t *testing.T) {
	_, objs := manifests(t)
	var cfg scrapeConfig
	found := false
	for _, o := range objs {
		if cm, ok := o.obj.(*corev1.ConfigMap); ok && cm.Name == "encours-prometheus-scrape" {
			if err := yaml.Unmarshal([]byte(cm.Data["encours-scrape.yml"]), &cfg); err != nil {
				t.Fatalf("%s: encours-scrape.yml: %v", o.where, err)
			}
			found = true
		}
	}
	if !found || len(cfg.ScrapeConfigs) == 0 {
		t.Fatal("no ConfigMap encours-prometheus-scrape with scrape jobs in encours-scrape.yml")
	}
	ws, cs := daemonContainers(objs)
	scraped := make([]bool, len(ws))
	var jobs []string
	for _, job := range cfg.ScrapeConfigs {
		jobs = append(jobs, job.JobName)
		n := 0
		for _, sd := range job.KubernetesSDs {
			for _, s := range sd.Selectors {
				sel, err := labels.Parse(s.Label)
				if err != nil || s.Role != "pod" {
					t.Errorf("job %s: selector role %s label %q: %v", job.JobName, s.Role, s.Label, err)
					continue
				}
				for i, w := range ws {
					if sel.Matches(labels.Set(w.template.Labels)) {
						n++
						scraped[i] = true
						if p := w.template.Annotations["prometheus.io/path"]; p != job.MetricsPath {
							t.Errorf("job %s scrapes %s of %s %s, which serves metrics on %q", job.JobName, job.MetricsPath, w.kind, w.name, p)
						}
					}
				}
			}
		}
		if n == 0 {
			t.Errorf("job %s selects no encoursd workload", job.JobName)
		}
	}
	for i, ok := range scraped {
		if !ok {
			t.Errorf("%s %s (%s) is scraped by no job", ws[i].kind, ws[i].name, cs[i].Name)
		}
	}
	b, err := os.ReadFile("../prometheus/prometheus.yml")
	if os.IsNotExist(err) {
		t.Skip("deploy/prometheus/prometheus.yml is not in this tree yet (the monitoring set-up provides it): job names not compared")
	}
	if err != nil {
		t.Fatal(err)
	}
	var mon scrapeConfig
	if err := yaml.Unmarshal(b, &mon); err != nil {
		t.Fatalf("deploy/prometheus/prometheus.yml: %v", err)
	}
	var want []string
	for _, job := range mon.ScrapeConfigs {
		if job.JobName != "prometheus" {
			want = append(want, job.JobName)
		}
	}
	slices.Sort(want)
	slices.Sort(jobs)
	if !slices.Equal(jobs, want) {
		t.Errorf("scrape jobs %v, deploy/prometheus/prometheus.yml has %v: its rules and dashboards select on job", jobs, want)
	}
}
