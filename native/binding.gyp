{
  "targets": [
    {
      "target_name": "kubesentry",
      "sources": ["addon.cc", "bpf_object.cc", "ring_buffer_reader.cc", "libbpf_log.cc", "kernel_error.cc"],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")", ".."],
      "defines": ["NAPI_VERSION=8", "NAPI_DISABLE_CPP_EXCEPTIONS", "NODE_ADDON_API_DISABLE_DEPRECATED", "NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS"],
      "cflags_cc": ["-std=c++20", "-Wall", "-Wextra", "-Wno-unused-parameter", "-Wno-missing-field-initializers"],
      "libraries": ["-lbpf", "-lelf", "-lz", "-lpthread"]
    }
  ]
}
