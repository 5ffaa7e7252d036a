package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"

	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// jsonSchema is the subset of JSON Schema draft-07 that kubeconform needs to reject unknown fields and wrong types.
type jsonSchema map[string]any

// Types whose JSON form is not their Go struct shape: they marshal themselves to a scalar.
var customJSONTypes = map[reflect.Type]jsonSchema{
	reflect.TypeFor[resource.Quantity]():    {"type": []string{"string", "number"}},
	reflect.TypeFor[intstr.IntOrString]():   {"type": []string{"string", "integer"}},
	reflect.TypeFor[metav1.Time]():          {"type": []string{"string", "null"}, "format": "date-time"},
	reflect.TypeFor[metav1.MicroTime]():     {"type": []string{"string", "null"}, "format": "date-time"},
	reflect.TypeFor[metav1.Duration]():      {"type": "string"},
	reflect.TypeFor[runtime.RawExtension](): {"type": "object"},
}

// emitSchemas writes one self-contained schema per registered kind, named the way kubeconform's
// -schema-location template DIR/{{.ResourceKind}}{{.KindSuffix}}.json expects.
func emitSchemas(scheme *runtime.Scheme, dir string) (int, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return 0, err
	}
	count := 0
	for gvk, goType := range scheme.AllKnownTypes() {
		// List kinds, option structs and watch events are never written as manifests.
		if strings.HasSuffix(gvk.Kind, "List") || gvk.Version == runtime.APIVersionInternal ||
			goType.PkgPath() == reflect.TypeFor[metav1.ListOptions]().PkgPath() {
			continue
		}
		generator := schemaGenerator{definitions: map[string]jsonSchema{}}
		root := generator.schemaFor(goType)
		root["$schema"] = "http://json-schema.org/draft-07/schema#"
		root["definitions"] = generator.definitions
		apiVersion := gvk.Version
		if gvk.Group != "" {
			apiVersion = gvk.Group + "/" + gvk.Version
		}
		// Pin apiVersion and kind so a document can only match the schema of its own kind.
		properties := generator.definitions[definitionName(goType)]["properties"].(map[string]jsonSchema)
		properties["apiVersion"] = jsonSchema{"type": "string", "enum": []string{apiVersion}}
		properties["kind"] = jsonSchema{"type": "string", "enum": []string{gvk.Kind}}

		encoded, err := json.MarshalIndent(root, "", "  ")
		if err != nil {
			return count, fmt.Errorf("%s: %w", gvk, err)
		}
		// kubeconform's {{.KindSuffix}}: "-<first label of the group>-<version>", or "-<version>" for the core group.
		suffix := "-" + gvk.Version
		if gvk.Group != "" {
			suffix = "-" + strings.Split(gvk.Group, ".")[0] + suffix
		}
		name := strings.ToLower(gvk.Kind) + suffix + ".json"
		if err := os.WriteFile(filepath.Join(dir, name), encoded, 0o644); err != nil {
			return count, err
		}
		count++
	}
	return count, nil
}

type schemaGenerator struct {
	definitions map[string]jsonSchema
}

func definitionName(t reflect.Type) string {
	return strings.ReplaceAll(t.PkgPath(), "/", ".") + "." + t.Name()
}

func (g *schemaGenerator) schemaFor(t reflect.Type) jsonSchema {
	if custom, ok := customJSONTypes[t]; ok {
		return custom
	}
	switch t.Kind() {
	case reflect.Pointer:
		// The API server treats an explicit null like an omitted optional field.
		return jsonSchema{"anyOf": []jsonSchema{g.schemaFor(t.Elem()), {"type": "null"}}}
	case reflect.Bool:
		return jsonSchema{"type": "boolean"}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return jsonSchema{"type": "integer"}
	case reflect.Float32, reflect.Float64:
		return jsonSchema{"type": "number"}
	case reflect.String:
		return jsonSchema{"type": "string"}
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			return jsonSchema{"type": []string{"string", "null"}, "contentEncoding": "base64"}
		}
		return jsonSchema{"type": []string{"array", "null"}, "items": g.schemaFor(t.Elem())}
	case reflect.Map:
		return jsonSchema{"type": []string{"object", "null"}, "additionalProperties": g.schemaFor(t.Elem())}
	case reflect.Interface:
		return jsonSchema{}
	case reflect.Struct:
		name := definitionName(t)
		if _, seen := g.definitions[name]; !seen {
			// Registered before recursing so self-referencing types terminate.
			definition := jsonSchema{"type": "object", "additionalProperties": false}
			g.definitions[name] = definition
			properties := map[string]jsonSchema{}
			g.addFields(t, properties)
			definition["properties"] = properties
		}
		return jsonSchema{"$ref": "#/definitions/" + name}
	}
	panic(fmt.Sprintf("no JSON schema mapping for Go kind %s (%s)", t.Kind(), t))
}

func (g *schemaGenerator) addFields(t reflect.Type, properties map[string]jsonSchema) {
	for _, field := range reflect.VisibleFields(t) {
		if !field.IsExported() || len(field.Index) > 1 {
			continue
		}
		tag := field.Tag.Get("json")
		name, options, _ := strings.Cut(tag, ",")
		if name == "-" {
			continue
		}
		if field.Anonymous && (name == "" || options == "inline") {
			fieldType := field.Type
			if fieldType.Kind() == reflect.Pointer {
				fieldType = fieldType.Elem()
			}
			g.addFields(fieldType, properties)
			continue
		}
		if name == "" {
			name = field.Name
		}
		properties[name] = g.schemaFor(field.Type)
	}
}
