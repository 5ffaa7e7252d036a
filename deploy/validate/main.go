// kubesentry-validate checks rendered Kubernetes manifests against the upstream API types, offline.
//
// No schema site is reachable from CI, so instead of downloading OpenAPI/JSON schemas this decodes every document
// into the typed structs of k8s.io/api with the API machinery's strict decoder: an unknown or misspelt field, a
// duplicate field, a wrong type or an unregistered kind is an error. The same types also produce the strict JSON
// schemas that kubeconform reads (-emit-schemas), so both checks share one source of truth.
//
//	kubesentry-validate FILE...             # "-" reads stdin; exit 1 on the first file with any invalid document
//	kubesentry-validate -emit-schemas DIR   # writes DIR/<kind>[-<group>]-<version>.json for kubeconform
//	kubesentry-validate -promql FILE        # JSON [{where, expr}]: Prometheus's parser checks each (dashboards)
//	kubesentry-validate -dockerfile FILE    # BuildKit's parser and instruction decoder (no engine needed)
//	kubesentry-validate -pod-security FILE  # upstream PodSecurity checks of every pod template, JSON lines out;
//	                                        # exit 1 when a namespace in FILE enforces a level a workload fails
package main

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	sigsyaml "sigs.k8s.io/yaml"
)

func main() {
	emitDir := flag.String("emit-schemas", "", "write strict JSON schemas for kubeconform into this directory and exit")
	promqlFile := flag.String("promql", "", "check the PromQL expressions in this JSON file (- for stdin) and exit")
	dockerfile := flag.String("dockerfile", "", "check this Dockerfile with BuildKit's parser and exit")
	podSecurity := flag.String("pod-security", "", "judge every pod template in this manifest file at each Pod Security level and exit")
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: kubesentry-validate FILE... | -emit-schemas DIR | -promql FILE | -dockerfile FILE | -pod-security FILE")
	}
	flag.Parse()

	if *dockerfile != "" {
		problems, err := checkDockerfile(*dockerfile)
		if err != nil {
			fmt.Fprintf(os.Stderr, "kubesentry-validate: %v\n", err)
			os.Exit(1)
		}
		for _, p := range problems {
			fmt.Fprintln(os.Stderr, p)
		}
		if len(problems) > 0 {
			os.Exit(1)
		}
		fmt.Printf("%s: valid Dockerfile\n", *dockerfile)
		return
	}

	if *promqlFile != "" {
		os.Exit(runPromQL(*promqlFile))
	}

	scheme := newScheme()
	if *emitDir != "" {
		count, err := emitSchemas(scheme, *emitDir)
		if err != nil {
			fmt.Fprintf(os.Stderr, "kubesentry-validate: %v\n", err)
			os.Exit(1)
		}
		fmt.Fprintf(os.Stderr, "kubesentry-validate: wrote %d schemas to %s\n", count, *emitDir)
		return
	}
	decoder := serializer.NewCodecFactory(scheme, serializer.EnableStrict).UniversalDeserializer()
	if *podSecurity != "" {
		problems, objects, err := validateFile(decoder, *podSecurity)
		if err == nil && len(problems) > 0 {
			err = errors.New(strings.Join(problems, "; "))
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "%s: %v\n", *podSecurity, err)
			os.Exit(1)
		}
		rejected, err := checkPodSecurity(objects, os.Stdout)
		if err != nil {
			fmt.Fprintf(os.Stderr, "%s: %v\n", *podSecurity, err)
			os.Exit(1)
		}
		if rejected > 0 {
			fmt.Fprintf(os.Stderr, "%s: %d workloads violate the Pod Security level their namespace enforces\n", *podSecurity, rejected)
			os.Exit(1)
		}
		return
	}
	if flag.NArg() == 0 {
		flag.Usage()
		os.Exit(2)
	}

	failed := false
	for _, path := range flag.Args() {
		problems, objects, err := validateFile(decoder, path)
		if err != nil {
			fmt.Fprintf(os.Stderr, "%s: %v\n", path, err)
			failed = true
			continue
		}
		for _, p := range problems {
			fmt.Fprintf(os.Stderr, "%s: %s\n", path, p)
		}
		if len(problems) > 0 {
			failed = true
			continue
		}
		fmt.Printf("%s: %d documents valid\n", path, len(objects))
	}
	if failed {
		os.Exit(1)
	}
}

func runPromQL(path string) int {
	input := io.Reader(os.Stdin)
	if path != "-" {
		file, err := os.Open(path)
		if err != nil {
			fmt.Fprintf(os.Stderr, "kubesentry-validate: %v\n", err)
			return 1
		}
		defer file.Close()
		input = file
	}
	problems, count, err := checkPromQL(input)
	if err != nil {
		fmt.Fprintf(os.Stderr, "kubesentry-validate: %s: %v\n", path, err)
		return 1
	}
	for _, p := range problems {
		fmt.Fprintln(os.Stderr, p)
	}
	if len(problems) > 0 {
		return 1
	}
	fmt.Printf("%d PromQL expressions parse\n", count)
	return 0
}

// validateFile strictly decodes every document; objects holds those that decoded without any problem.
func validateFile(decoder runtime.Decoder, path string) (problems []string, objects []runtime.Object, err error) {
	var input io.Reader
	if path == "-" {
		input = os.Stdin
	} else {
		file, err := os.Open(path)
		if err != nil {
			return nil, nil, err
		}
		defer file.Close()
		input = file
	}

	documents := 0
	reader := utilyaml.NewYAMLReader(bufio.NewReader(input))
	for index := 0; ; index++ {
		document, err := reader.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, nil, fmt.Errorf("document %d: cannot split YAML: %w", index, err)
		}
		if isBlankDocument(document) {
			continue
		}
		documents++
		object, problem := validateDocument(decoder, document)
		if problem != "" {
			problems = append(problems, fmt.Sprintf("document %d (%s): %s", index, describe(document), problem))
			continue
		}
		objects = append(objects, object)
	}
	if documents == 0 {
		return nil, nil, errors.New("no Kubernetes documents found")
	}
	return problems, objects, nil
}

func validateDocument(decoder runtime.Decoder, document []byte) (runtime.Object, string) {
	// The strict YAML pass rejects duplicate keys, which the JSON decoder below would silently collapse.
	var generic map[string]any
	if err := sigsyaml.UnmarshalStrict(document, &generic); err != nil {
		return nil, err.Error()
	}
	object, gvk, err := decoder.Decode(document, nil, nil)
	if err != nil {
		// Strict errors still return the decoded object; any error at all fails validation.
		return nil, err.Error()
	}
	return object, checkMetadata(object, gvk)
}

// checkMetadata catches what the type system allows but the API server rejects for every kind we render.
func checkMetadata(object runtime.Object, gvk *schema.GroupVersionKind) string {
	accessor, ok := object.(interface{ GetName() string })
	if !ok {
		return fmt.Sprintf("%s has no object metadata", gvk)
	}
	if accessor.GetName() == "" {
		return "metadata.name is empty"
	}
	return ""
}

func isBlankDocument(document []byte) bool {
	for _, line := range bytes.Split(document, []byte("\n")) {
		trimmed := strings.TrimSpace(string(line))
		if trimmed != "" && !strings.HasPrefix(trimmed, "#") && trimmed != "---" {
			return false
		}
	}
	return true
}

// describe names a document in error messages even when it does not decode.
func describe(document []byte) string {
	var header struct {
		Kind     string `json:"kind"`
		Metadata struct {
			Name string `json:"name"`
		} `json:"metadata"`
	}
	if err := sigsyaml.Unmarshal(document, &header); err != nil || header.Kind == "" {
		return "unknown kind"
	}
	return header.Kind + "/" + header.Metadata.Name
}
