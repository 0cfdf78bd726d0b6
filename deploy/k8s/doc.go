// Package k8s holds the Kubernetes manifests of Encours (kubectl apply -k deploy/k8s) and
// the tests that keep them, and deploy/docker-compose.yml, true to the daemon:
//
//   - every document of every manifest decodes strictly into its k8s.io/api type (an
//     unknown field, a field in the wrong case, a duplicate key or a wrong value type
//     fails), and every manifest is listed in kustomization.yaml;
//   - the arguments of every encoursd container and compose service use only flags that
//     encoursd defines (read from `encoursd --help` of the daemon built from this tree);
//   - the probes and the scrape path are routes that daemon serves (it is started on a
//     temporary directory and asked), with the signals ConfigMap as its --signals-config;
//   - Service, PodDisruptionBudget and HorizontalPodAutoscaler selectors and references
//     name workloads that exist, and the encoursd pods run non-root, read-only, with
//     resource requests and limits.
//
// It is a module of its own so that k8s.io/api stays out of the product's dependencies:
//
//	cd deploy/k8s && go test -count=1 ./...
package k8s
