package k8s_test

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"
)

// daemonImage is the repository of the encoursd image (deploy/Dockerfile).
const daemonImage = "encours/encoursd"

// externalSecrets are the Secrets the manifests use but do not hold, made by hand before
// `kubectl apply -k` (README, "Running at scale"): a token is never committed.
var externalSecrets = map[string]bool{"encours-admin": true}

// kinds are the types this test decodes, by apiVersion and kind. A manifest of another
// kind fails until it is added here.
var kinds = map[string]func() any{
	"v1/Namespace":                           func() any { return &corev1.Namespace{} },
	"v1/ConfigMap":                           func() any { return &corev1.ConfigMap{} },
	"v1/Service":                             func() any { return &corev1.Service{} },
	"apps/v1/Deployment":                     func() any { return &appsv1.Deployment{} },
	"apps/v1/StatefulSet":                    func() any { return &appsv1.StatefulSet{} },
	"batch/v1/Job":                           func() any { return &batchv1.Job{} },
	"policy/v1/PodDisruptionBudget":          func() any { return &policyv1.PodDisruptionBudget{} },
	"autoscaling/v2/HorizontalPodAutoscaler": func() any { return &autoscalingv2.HorizontalPodAutoscaler{} },
}

// decodeStrict decodes one YAML document into v as the API server's strict field
// validation does: duplicate keys, unknown fields and fields in the wrong case fail.
func decodeStrict(doc []byte, v any) error {
	j, err := yaml.YAMLToJSONStrict(doc)
	if err != nil {
		return err
	}
	strict, err := kjson.UnmarshalStrict(j, v, kjson.DisallowDuplicateFields, kjson.DisallowUnknownFields)
	if err != nil {
		return err
	}
	if len(strict) > 0 {
		msgs := make([]string, len(strict))
		for i, e := range strict {
			msgs[i] = e.Error()
		}
		return fmt.Errorf("%s", strings.Join(msgs, "; "))
	}
	return nil
}

// docSeparator splits a multi-document YAML file.
var docSeparator = regexp.MustCompile(`(?m)^---[ \t]*(?:#.*)?$`)

// splitDocuments returns the documents of a YAML file, without the ones holding only
// comments.
func splitDocuments(b []byte) [][]byte {
	var docs [][]byte
	for _, d := range docSeparator.Split(string(b), -1) {
		empty := true
		for _, line := range strings.Split(d, "\n") {
			if s := strings.TrimSpace(line); s != "" && !strings.HasPrefix(s, "#") {
				empty = false
				break
			}
		}
		if !empty {
			docs = append(docs, []byte(d))
		}
	}
	return docs
}

// object is one decoded document of a manifest.
type object struct {
	where string // file#n
	kind  string // apiVersion/kind
	meta  metav1.ObjectMeta
	obj   any
}

// decodeDocument decodes a document into the type its apiVersion and kind name.
func decodeDocument(doc []byte) (string, any, error) {
	var tm metav1.TypeMeta
	if err := yaml.Unmarshal(doc, &tm); err != nil {
		return "", nil, err
	}
	if tm.APIVersion == "" || tm.Kind == "" {
		return "", nil, fmt.Errorf("no apiVersion or kind")
	}
	key := tm.APIVersion + "/" + tm.Kind
	mk, ok := kinds[key]
	if !ok {
		return key, nil, fmt.Errorf("%s is not a kind this test decodes (add it to kinds)", key)
	}
	v := mk()
	if err := decodeStrict(doc, v); err != nil {
		return key, nil, fmt.Errorf("%s: %w", key, err)
	}
	return key, v, nil
}

// kustomization is the part of kustomize's Kustomization these manifests use; decoding it
// strictly catches a misspelt field there too.
type kustomization struct {
	APIVersion string   `json:"apiVersion"`
	Kind       string   `json:"kind"`
	Namespace  string   `json:"namespace"`
	Resources  []string `json:"resources"`
	Images     []struct {
		Name    string `json:"name"`
		NewName string `json:"newName,omitempty"`
		NewTag  string `json:"newTag,omitempty"`
		Digest  string `json:"digest,omitempty"`
	} `json:"images"`
}

// manifests reads kustomization.yaml and every manifest it lists, failing t on any
// document that does not decode strictly.
func manifests(t *testing.T) (kustomization, []object) {
	t.Helper()
	b, err := os.ReadFile("kustomization.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var k kustomization
	if err := decodeStrict(b, &k); err != nil {
		t.Fatalf("kustomization.yaml: %v", err)
	}
	if k.APIVersion != "kustomize.config.k8s.io/v1beta1" || k.Kind != "Kustomization" {
		t.Fatalf("kustomization.yaml: %s %s, want kustomize.config.k8s.io/v1beta1 Kustomization", k.APIVersion, k.Kind)
	}
	var objs []object
	for _, file := range k.Resources {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Errorf("kustomization.yaml lists %s: %v", file, err)
			continue
		}
		docs := splitDocuments(b)
		if len(docs) == 0 {
			t.Errorf("%s: no document", file)
		}
		for i, doc := range docs {
			where := fmt.Sprintf("%s#%d", file, i+1)
			kind, v, err := decodeDocument(doc)
			if err != nil {
				t.Errorf("%s: %v", where, err)
				continue
			}
			objs = append(objs, object{where: where, kind: kind, meta: *metaOf(v), obj: v})
		}
	}
	if t.Failed() {
		t.FailNow()
	}
	return k, objs
}

// metaOf returns the ObjectMeta of a decoded object.
func metaOf(v any) *metav1.ObjectMeta {
	return v.(metav1.ObjectMetaAccessor).GetObjectMeta().(*metav1.ObjectMeta)
}

// workload is a pod template with the object that holds it.
type workload struct {
	where, kind, name string
	selector          *metav1.LabelSelector
	template          *corev1.PodTemplateSpec
}

func workloads(objs []object) []workload {
	var ws []workload
	for _, o := range objs {
		switch v := o.obj.(type) {
		case *appsv1.Deployment:
			ws = append(ws, workload{o.where, "Deployment", v.Name, v.Spec.Selector, &v.Spec.Template})
		case *appsv1.StatefulSet:
			ws = append(ws, workload{o.where, "StatefulSet", v.Name, v.Spec.Selector, &v.Spec.Template})
		case *batchv1.Job:
			ws = append(ws, workload{o.where, "Job", v.Name, v.Spec.Selector, &v.Spec.Template})
		}
	}
	return ws
}

func isDaemon(c corev1.Container) bool {
	repo := c.Image
	if i := strings.LastIndexAny(repo, ":@"); i > strings.LastIndexByte(repo, '/') {
		repo = repo[:i]
	}
	return repo == daemonImage
}

func TestEveryManifestIsListedAndDecodesStrictly(t *testing.T) {
	k, objs := manifests(t)
	var files []string
	for _, pattern := range []string{"*.yaml", "*.yml"} {
		m, _ := filepath.Glob(pattern)
		files = append(files, m...)
	}
	files = slices.DeleteFunc(files, func(f string) bool { return f == "kustomization.yaml" })
	sort.Strings(files)
	listed := slices.Clone(k.Resources)
	sort.Strings(listed)
	if !slices.Equal(files, listed) {
		t.Errorf("kustomization.yaml resources %v, want every manifest of deploy/k8s: %v", listed, files)
	}
	seen := map[string]string{}
	for _, o := range objs {
		id := o.kind + " " + o.meta.Namespace + "/" + o.meta.Name
		if prev, dup := seen[id]; dup {
			t.Errorf("%s: %s already defined in %s", o.where, id, prev)
		}
		seen[id] = o.where
		if o.meta.Name == "" {
			t.Errorf("%s: no metadata.name", o.where)
		}
		switch o.kind {
		case "v1/Namespace":
			if o.meta.Name != k.Namespace {
				t.Errorf("%s: Namespace %q, kustomization.yaml says %q", o.where, o.meta.Name, k.Namespace)
			}
		default:
			if o.meta.Namespace != k.Namespace {
				t.Errorf("%s: namespace %q, want %q (also for kubectl apply -f)", o.where, o.meta.Namespace, k.Namespace)
			}
		}
	}
	for _, want := range []string{"v1/Namespace", "apps/v1/Deployment", "apps/v1/StatefulSet", "v1/Service",
		"v1/ConfigMap", "policy/v1/PodDisruptionBudget"} {
		if !slices.ContainsFunc(objs, func(o object) bool { return o.kind == want }) {
			t.Errorf("no %s among the manifests", want)
		}
	}
}

// TestStrictDecodingCatchesTypos proves the decoder of these tests refuses what kubectl
// apply --validate=strict refuses, on the real API Deployment.
func TestStrictDecodingCatchesTypos(t *testing.T) {
	b, err := os.ReadFile("api.yaml")
	if err != nil {
		t.Fatal(err)
	}
	doc := splitDocuments(b)[0]
	if _, _, err := decodeDocument(doc); err != nil {
		t.Fatalf("the API Deployment itself: %v", err)
	}
	for _, c := range []struct{ name, old, new string }{
		{"misspelt field", "readinessProbe:", "readynessProbe:"},
		{"field in the wrong case", "readOnlyRootFilesystem:", "readonlyRootFilesystem:"},
		{"duplicate key", "  replicas: 2\n", "  replicas: 2\n  replicas: 3\n"},
		{"wrong value type", "containerPort: 8080", "containerPort: http"},
		{"unknown kind", "kind: Deployment", "kind: Deploymnet"},
	} {
		bad := strings.Replace(string(doc), c.old, c.new, 1)
		if bad == string(doc) {
			t.Fatalf("%s: %q is not in api.yaml", c.name, c.old)
		}
		if _, _, err := decodeDocument([]byte(bad)); err == nil {
			t.Errorf("%s (%q -> %q): decoded without error", c.name, c.old, c.new)
		} else {
			t.Logf("%s: %v", c.name, err)
		}
	}
}

func TestSelectorsAndReferences(t *testing.T) {
	_, objs := manifests(t)
	ws := workloads(objs)
	services := map[string]*corev1.Service{}
	configMaps := map[string]*corev1.ConfigMap{}
	for _, o := range objs {
		switch v := o.obj.(type) {
		case *corev1.Service:
			services[v.Name] = v
		case *corev1.ConfigMap:
			configMaps[v.Name] = v
		}
	}
	// matching returns the workloads whose pods a selector selects.
	matching := func(sel labels.Selector) []workload {
		var m []workload
		for _, w := range ws {
			if sel.Matches(labels.Set(w.template.Labels)) {
				m = append(m, w)
			}
		}
		return m
	}
	for _, w := range ws {
		if w.kind == "Job" && w.selector == nil {
			continue // the Job controller makes its own
		}
		sel, err := metav1.LabelSelectorAsSelector(w.selector)
		if err != nil || sel.Empty() {
			t.Errorf("%s: %s %s: selector %v: %v", w.where, w.kind, w.name, w.selector, err)
			continue
		}
		if !sel.Matches(labels.Set(w.template.Labels)) {
			t.Errorf("%s: %s %s: selector %s does not select its own pods %v", w.where, w.kind, w.name, sel, w.template.Labels)
		}
		for _, other := range matching(sel) {
			if other.name != w.name || other.kind != w.kind {
				t.Errorf("%s: %s %s's selector %s also selects the pods of %s %s", w.where, w.kind, w.name, sel, other.kind, other.name)
			}
		}
	}
	for _, o := range objs {
		switch v := o.obj.(type) {
		case *corev1.Service:
			if len(v.Spec.Selector) == 0 {
				t.Errorf("%s: Service %s has no selector", o.where, v.Name)
				continue
			}
			m := matching(labels.SelectorFromSet(v.Spec.Selector))
			if len(m) == 0 {
				t.Errorf("%s: Service %s selects %v: no workload has those labels", o.where, v.Name, v.Spec.Selector)
				continue
			}
			for _, p := range v.Spec.Ports {
				for _, w := range m {
					if !hasPort(w.template, p.TargetPort, p.Port) {
						t.Errorf("%s: Service %s port %s targets %s, which %s %s does not expose", o.where, v.Name, p.Name, p.TargetPort.String(), w.kind, w.name)
					}
				}
			}
		case *policyv1.PodDisruptionBudget:
			sel, err := metav1.LabelSelectorAsSelector(v.Spec.Selector)
			if err != nil || sel.Empty() || len(matching(sel)) == 0 {
				t.Errorf("%s: PodDisruptionBudget %s selects no workload (%v, %v)", o.where, v.Name, v.Spec.Selector, err)
			}
			if (v.Spec.MinAvailable == nil) == (v.Spec.MaxUnavailable == nil) {
				t.Errorf("%s: PodDisruptionBudget %s: want exactly one of minAvailable and maxUnavailable", o.where, v.Name)
			}
		case *autoscalingv2.HorizontalPodAutoscaler:
			ref := v.Spec.ScaleTargetRef
			if !slices.ContainsFunc(ws, func(w workload) bool { return w.kind == ref.Kind && w.name == ref.Name }) || ref.APIVersion != "apps/v1" {
				t.Errorf("%s: HorizontalPodAutoscaler %s scales %s %s %s, which the manifests do not define", o.where, v.Name, ref.APIVersion, ref.Kind, ref.Name)
			}
		case *appsv1.StatefulSet:
			svc := services[v.Spec.ServiceName]
			if svc == nil || svc.Spec.ClusterIP != corev1.ClusterIPNone {
				t.Errorf("%s: StatefulSet %s: serviceName %q is not a headless Service of the manifests", o.where, v.Name, v.Spec.ServiceName)
			}
		}
	}
	// Every ConfigMap and Secret a pod uses exists (Secrets: made by hand, see externalSecrets).
	for _, w := range ws {
		spec := &w.template.Spec
		for _, vol := range spec.Volumes {
			if cm := vol.ConfigMap; cm != nil && configMaps[cm.Name] == nil {
				t.Errorf("%s: volume %s: ConfigMap %s is not in the manifests", w.where, vol.Name, cm.Name)
			}
			if s := vol.Secret; s != nil && !externalSecrets[s.SecretName] {
				t.Errorf("%s: volume %s: Secret %s is not a documented Secret", w.where, vol.Name, s.SecretName)
			}
		}
		for _, c := range slices.Concat(spec.InitContainers, spec.Containers) {
			for _, e := range c.Env {
				if e.ValueFrom == nil {
					continue
				}
				if r := e.ValueFrom.ConfigMapKeyRef; r != nil && (configMaps[r.Name] == nil || !hasKey(configMaps[r.Name], r.Key)) {
					t.Errorf("%s: %s env %s: ConfigMap %s key %s is not in the manifests", w.where, c.Name, e.Name, r.Name, r.Key)
				}
				if r := e.ValueFrom.SecretKeyRef; r != nil && !externalSecrets[r.Name] {
					t.Errorf("%s: %s env %s: Secret %s is not a documented Secret", w.where, c.Name, e.Name, r.Name)
				}
			}
			mounted := map[string]bool{}
			for _, m := range c.VolumeMounts {
				if !slices.ContainsFunc(spec.Volumes, func(v corev1.Volume) bool { return v.Name == m.Name }) &&
					!hasClaimTemplate(objs, w, m.Name) {
					t.Errorf("%s: %s mounts %s, which is no volume of the pod", w.where, c.Name, m.Name)
				}
				if mounted[m.MountPath] {
					t.Errorf("%s: %s mounts two volumes at %s", w.where, c.Name, m.MountPath)
				}
				mounted[m.MountPath] = true
			}
		}
	}
}

func hasKey(cm *corev1.ConfigMap, key string) bool {
	_, ok := cm.Data[key]
	return ok
}

func hasClaimTemplate(objs []object, w workload, name string) bool {
	for _, o := range objs {
		if s, ok := o.obj.(*appsv1.StatefulSet); ok && s.Name == w.name && w.kind == "StatefulSet" {
			return slices.ContainsFunc(s.Spec.VolumeClaimTemplates, func(p corev1.PersistentVolumeClaim) bool { return p.Name == name })
		}
	}
	return false
}

// hasPort reports whether a pod's containers expose target (a name or a number; zero
// means the Service port itself).
func hasPort(tpl *corev1.PodTemplateSpec, target intstr.IntOrString, port int32) bool {
	for _, c := range tpl.Spec.Containers {
		for _, p := range c.Ports {
			switch {
			case target.Type == intstr.String && target.StrVal == p.Name,
				target.Type == intstr.Int && target.IntVal == p.ContainerPort,
				target.Type == intstr.Int && target.IntVal == 0 && port == p.ContainerPort:
				return true
			}
		}
	}
	return false
}

// containerPort resolves a probe's port (a name or a number) in container c.
func containerPort(c corev1.Container, port intstr.IntOrString) (int32, bool) {
	for _, p := range c.Ports {
		if (port.Type == intstr.String && port.StrVal == p.Name) || (port.Type == intstr.Int && port.IntVal == p.ContainerPort) {
			return p.ContainerPort, true
		}
	}
	return 0, false
}

func TestPodsRunUnprivilegedWithLimits(t *testing.T) {
	_, objs := manifests(t)
	df := readDockerfile(t)
	daemons := 0
	for _, w := range workloads(objs) {
		spec := &w.template.Spec
		psc := spec.SecurityContext
		if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.RunAsUser == nil || *psc.RunAsUser == 0 {
			t.Errorf("%s: %s %s: want securityContext runAsNonRoot with a non-zero runAsUser", w.where, w.kind, w.name)
		}
		if psc != nil && (psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault) {
			t.Errorf("%s: %s %s: want seccompProfile RuntimeDefault", w.where, w.kind, w.name)
		}
		for _, c := range slices.Concat(spec.InitContainers, spec.Containers) {
			for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
				req, lim := c.Resources.Requests[r], c.Resources.Limits[r]
				if req.IsZero() || lim.IsZero() {
					t.Errorf("%s: %s: want a %s request and limit, have %v / %v", w.where, c.Name, r, req.String(), lim.String())
				} else if req.Cmp(lim) > 0 {
					t.Errorf("%s: %s: %s request %s above its limit %s", w.where, c.Name, r, req.String(), lim.String())
				}
			}
			sc := c.SecurityContext
			if sc == nil || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation ||
				sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") {
				t.Errorf("%s: %s: want allowPrivilegeEscalation false and capabilities drop ALL", w.where, c.Name)
			}
			if !isDaemon(c) {
				continue
			}
			daemons++
			if sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
				t.Errorf("%s: %s: encoursd wants a read-only root file system", w.where, c.Name)
			}
			if psc != nil && psc.RunAsUser != nil && *psc.RunAsUser != df.uid {
				t.Errorf("%s: runAsUser %d, deploy/Dockerfile runs as %d", w.where, *psc.RunAsUser, df.uid)
			}
			var token *corev1.EnvVar
			for i := range c.Env {
				if c.Env[i].Name == "ENCOURS_ADMIN_TOKEN" {
					token = &c.Env[i]
				}
			}
			if token == nil || token.Value != "" || token.ValueFrom == nil || token.ValueFrom.SecretKeyRef == nil {
				t.Errorf("%s: %s: ENCOURS_ADMIN_TOKEN must come from a Secret (secretKeyRef), never a literal", w.where, c.Name)
			}
			if c.LivenessProbe == nil || c.ReadinessProbe == nil {
				t.Errorf("%s: %s: want liveness and readiness probes", w.where, c.Name)
			}
			if w.template.Spec.TerminationGracePeriodSeconds != nil && *w.template.Spec.TerminationGracePeriodSeconds < 20 {
				t.Errorf("%s: terminationGracePeriodSeconds %d: encoursd takes up to 15 s to drain, then closes the store",
					w.where, *w.template.Spec.TerminationGracePeriodSeconds)
			}
		}
	}
	if daemons < 2 {
		t.Errorf("%d encoursd containers (image %s), want the api and projector Deployments", daemons, daemonImage)
	}
}

// daemonContainers returns the encoursd containers of the manifests with their workload.
func daemonContainers(objs []object) (ws []workload, cs []corev1.Container) {
	for _, w := range workloads(objs) {
		for _, c := range w.template.Spec.Containers {
			if isDaemon(c) {
				ws, cs = append(ws, w), append(cs, c)
			}
		}
	}
	return ws, cs
}

func TestDaemonArgsUseItsFlags(t *testing.T) {
	_, objs := manifests(t)
	flags := daemonFlags(t)
	services := map[string]*corev1.Service{}
	for _, o := range objs {
		if s, ok := o.obj.(*corev1.Service); ok {
			services[s.Name] = s
		}
	}
	servicePort := func(host string, port int) bool {
		s := services[host]
		return s != nil && slices.ContainsFunc(s.Spec.Ports, func(p corev1.ServicePort) bool { return int(p.Port) == port })
	}
	roles := map[string]int{}
	var pending, relayNodes []string
	ws, cs := daemonContainers(objs)
	for i, c := range cs {
		w := ws[i]
		where := fmt.Sprintf("%s: %s %s container %s", w.where, w.kind, w.name, c.Name)
		if len(c.Command) > 0 {
			t.Errorf("%s: command %v replaces the image's entrypoint; give flags in args", where, c.Command)
		}
		p, pend := checkArgs(t, where, flags, c.Args)
		pending = append(pending, pend...)
		roles[p.values["role"]]++
		if relays(p) {
			relayNodes = append(relayNodes, where)
			if replicas := replicasOf(objs, w); w.kind != "StatefulSet" || replicas != 1 {
				t.Errorf("%s: the relay node (--role api --relay on) must be a StatefulSet of 1 replica, not a %s of %d: two relays send every alert twice", where, w.kind, replicas)
			}
		}
		listen, ok := p.values["listen"]
		if !ok {
			t.Errorf("%s: no --listen: the default 127.0.0.1:8080 is unreachable from outside the pod", where)
		} else if port, err := listenPort(listen); err != nil {
			t.Errorf("%s: --listen %q: %v", where, listen, err)
		} else if !slices.ContainsFunc(c.Ports, func(p corev1.ContainerPort) bool { return int(p.ContainerPort) == port && p.Name == "http" }) {
			t.Errorf("%s: --listen %s, but no containerPort %d named http", where, listen, port)
		}
		if p.values["store"] != "kurrentdb" {
			t.Errorf("%s: --store %q, want kurrentdb: the nodes share one log", where, p.values["store"])
		} else if host, port, err := hostPort(p.values["kurrentdb-url"], "esdb://"); err != nil || !servicePort(host, port) {
			t.Errorf("%s: --kurrentdb-url %q: not a Service and port of the manifests (%v)", where, p.values["kurrentdb-url"], err)
		}
		if brokers := p.values["kafka-brokers"]; brokers != "" {
			for _, b := range strings.Split(brokers, ",") {
				if host, port, err := hostPort(b, ""); err != nil || !servicePort(host, port) {
					t.Errorf("%s: --kafka-brokers %q: %s is not a Service and port of the manifests (%v)", where, brokers, b, err)
				}
			}
		}
		if path := p.values["signals-config"]; path != "" && !mountedConfigMapKey(objs, w, c, path) {
			t.Errorf("%s: --signals-config %s is not a key of a ConfigMap mounted in the container", where, path)
		}
	}
	if len(pending) > 0 {
		t.Skipf("encoursd of this tree defines no -role: the scale-out flags %v are checked once that branch is merged; every other flag was checked", dedupe(pending))
	}
	for _, r := range []string{"api", "projector"} {
		if roles[r] == 0 {
			t.Errorf("no encoursd container with --role %s (roles: %v)", r, roles)
		}
	}
	if len(relayNodes) != 1 {
		t.Errorf("relay nodes (--role api, --relay on or unset): %v, want exactly one", relayNodes)
	}
}

// replicasOf returns a workload's replica count (1 when unset).
func replicasOf(objs []object, w workload) int32 {
	var r *int32
	for _, o := range objs {
		switch v := o.obj.(type) {
		case *appsv1.Deployment:
			if w.kind == "Deployment" && v.Name == w.name {
				r = v.Spec.Replicas
			}
		case *appsv1.StatefulSet:
			if w.kind == "StatefulSet" && v.Name == w.name {
				r = v.Spec.Replicas
			}
		}
	}
	if r == nil {
		return 1
	}
	return *r
}

func dedupe(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return slices.Compact(s)
}

// hostPort splits "scheme://host:port?query" or "host:port".
func hostPort(s, scheme string) (string, int, error) {
	rest, ok := strings.CutPrefix(s, scheme)
	if !ok {
		return "", 0, fmt.Errorf("want %s...", scheme)
	}
	rest, _, _ = strings.Cut(rest, "?")
	rest, _, _ = strings.Cut(rest, "/")
	host, port, err := net.SplitHostPort(rest)
	if err != nil {
		return "", 0, err
	}
	n, err := strconv.Atoi(port)
	return host, n, err
}

// mountedConfigMapKey reports whether path is a key of a ConfigMap volume mounted in c.
func mountedConfigMapKey(objs []object, w workload, c corev1.Container, path string) bool {
	for _, m := range c.VolumeMounts {
		key, ok := strings.CutPrefix(path, strings.TrimSuffix(m.MountPath, "/")+"/")
		if !ok {
			continue
		}
		for _, v := range w.template.Spec.Volumes {
			if v.Name != m.Name || v.ConfigMap == nil {
				continue
			}
			for _, o := range objs {
				if cm, ok := o.obj.(*corev1.ConfigMap); ok && cm.Name == v.ConfigMap.Name && hasKey(cm, key) {
					return true
				}
			}
		}
	}
	return false
}

// TestProbesAreServedByTheDaemon starts encoursd with the signals ConfigMap as its
// --signals-config and asks it every probe path (without a token, as the kubelet does)
// and the scrape path (with one, as Prometheus does).
func TestProbesAreServedByTheDaemon(t *testing.T) {
	_, objs := manifests(t)
	probes := map[string]string{} // path -> where
	scrape := map[string]string{}
	ws, cs := daemonContainers(objs)
	for i, c := range cs {
		w := ws[i]
		for name, pr := range map[string]*corev1.Probe{"startupProbe": c.StartupProbe, "livenessProbe": c.LivenessProbe, "readinessProbe": c.ReadinessProbe} {
			if pr == nil {
				continue
			}
			where := fmt.Sprintf("%s: %s %s", w.where, c.Name, name)
			if pr.HTTPGet == nil {
				t.Errorf("%s: want an httpGet probe", where)
				continue
			}
			if _, ok := containerPort(c, pr.HTTPGet.Port); !ok {
				t.Errorf("%s: port %s is no port of the container", where, pr.HTTPGet.Port.String())
			}
			probes[pr.HTTPGet.Path] = where
		}
		ann := w.template.Annotations
		if ann["prometheus.io/scrape"] == "true" {
			scrape[ann["prometheus.io/path"]] = w.where
			if port, err := strconv.Atoi(ann["prometheus.io/port"]); err != nil || !slices.ContainsFunc(c.Ports, func(p corev1.ContainerPort) bool { return int(p.ContainerPort) == port }) {
				t.Errorf("%s: prometheus.io/port %q is no port of %s", w.where, ann["prometheus.io/port"], c.Name)
			}
		}
	}
	if len(probes) == 0 || len(scrape) == 0 {
		t.Fatalf("probes %v, scrape paths %v: want both", probes, scrape)
	}
	var extra []string
	for _, o := range objs {
		if cm, ok := o.obj.(*corev1.ConfigMap); ok && cm.Name == "encours-signals" {
			path := filepath.Join(t.TempDir(), "signals.json")
			if err := os.WriteFile(path, []byte(cm.Data["signals.json"]), 0o600); err != nil {
				t.Fatal(err)
			}
			extra = append(extra, "--signals-config", path)
		}
	}
	if extra == nil {
		t.Fatal("no ConfigMap encours-signals with signals.json")
	}
	d := startDaemon(t, extra...)
	for path, where := range probes {
		if code, body := d.get(t, path, false); code != 200 {
			t.Errorf("%s: GET %s without a token: %d %s, want 200", where, path, code, body)
		}
	}
	for path, where := range scrape {
		code, body := d.get(t, path, true)
		if code != 200 || !strings.Contains(body, "# TYPE ") {
			t.Errorf("%s: GET %s: %d, want 200 and Prometheus series; got %.200s", where, path, code, body)
		}
	}
	// The probes must not be the routes that need a token, or every pod would be unready.
	if code, _ := d.get(t, "/v1/portfolio", false); code != 401 {
		t.Errorf("GET /v1/portfolio without a token: %d, want 401 (the daemon's auth is off?)", code)
	}
}
