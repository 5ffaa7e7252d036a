#include "bpf_object.h"

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <malloc.h>
#include <linux/perf_event.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "kernel_error.h"
#include "libbpf_log.h"

namespace kubesentry {

namespace {


bool IsString(Napi::Env env, const Napi::Value& value, const char* what) {
  if (value.IsString()) return true;
  if (!env.IsExceptionPending()) Napi::TypeError::New(env, std::string(what) + " must be a string").ThrowAsJavaScriptException();
  return false;
}

}  // namespace

Napi::Function BpfObject::Define(Napi::Env env) {
  return DefineClass(env, "BpfObject",
                     {
                         InstanceMethod<&BpfObject::Programs>("programs"),
                         InstanceMethod<&BpfObject::Maps>("maps"),
                         InstanceMethod<&BpfObject::SetAutoload>("setAutoload"),
                         InstanceMethod<&BpfObject::SetRodata>("setRodata"),
                         InstanceMethod<&BpfObject::ResizeMap>("resizeMap"),
                         InstanceMethod<&BpfObject::Load>("load"),
                         InstanceMethod<&BpfObject::Attach>("attach"),
                         InstanceMethod<&BpfObject::AttachTracepoint>("attachTracepoint"),
                         InstanceMethod<&BpfObject::AttachUprobe>("attachUprobe"),
                         InstanceMethod<&BpfObject::Detach>("detach"),
                         InstanceMethod<&BpfObject::MapFd>("mapFd"),
                         InstanceMethod<&BpfObject::MapUpdate>("mapUpdate"),
                         InstanceMethod<&BpfObject::MapLookup>("mapLookup"),
                         InstanceMethod<&BpfObject::MapDelete>("mapDelete"),
                         InstanceMethod<&BpfObject::PerCpuSum>("perCpuSum"),
                         InstanceMethod<&BpfObject::MapEntries>("mapEntries"),
                         InstanceMethod<&BpfObject::RunIterator>("runIterator"),
                         InstanceMethod<&BpfObject::ProgramStats>("programStats"),
                         InstanceMethod<&BpfObject::Close>("close"),
                     });
}

// new BpfObject(path: string, btfPath?: string)
BpfObject::BpfObject(const Napi::CallbackInfo& info) : Napi::ObjectWrap<BpfObject>(info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !IsString(env, info[0], "object path")) return;
  path_ = info[0].As<Napi::String>().Utf8Value();
  std::string btf_path;
  if (info.Length() >= 2 && !info[1].IsUndefined()) {
    if (!IsString(env, info[1], "btfPath")) return;
    btf_path = info[1].As<Napi::String>().Utf8Value();
  }
  LIBBPF_OPTS(bpf_object_open_opts, options);
  if (!btf_path.empty()) options.btf_custom_path = btf_path.c_str();
  LogCapture capture(&log_);
  errno = 0;
  bpf_object* object = bpf_object__open_file(path_.c_str(), &options);
  int open_error = libbpf_get_error(object);
  if (open_error != 0) {
    ThrowKernelError(env, "EBPF_OPEN", -open_error, "cannot open BPF object " + path_, LogTail(log_));
    return;
  }
  object_ = object;
  CloseWithEnvironment(env);
}

BpfObject::~BpfObject() {
  CloseResources();
}

void BpfObject::CloseResources() {
  ForgetEnvironment();
  for (auto& [id, link] : links_) bpf_link__destroy(link);
  links_.clear();
  if (object_ != nullptr) {
    bpf_object__close(object_);
    object_ = nullptr;
  }
}

bool BpfObject::EnsureOpen(Napi::Env env) {
  if (object_ != nullptr) return true;
  ThrowKernelError(env, "EBPF_CLOSED", EBADF, "BPF object " + path_ + " is closed");
  return false;
}

bpf_program* BpfObject::FindProgram(Napi::Env env, const Napi::Value& name) {
  if (!EnsureOpen(env) || !IsString(env, name, "program name")) return nullptr;
  std::string program_name = name.As<Napi::String>().Utf8Value();
  bpf_program* program = bpf_object__find_program_by_name(object_, program_name.c_str());
  if (program == nullptr) {
    ThrowKernelError(env, "EBPF_NOT_FOUND", ENOENT, "no program '" + program_name + "' in " + path_);
  }
  return program;
}

bpf_map* BpfObject::FindMap(Napi::Env env, const Napi::Value& name) {
  if (!EnsureOpen(env) || !IsString(env, name, "map name")) return nullptr;
  std::string map_name = name.As<Napi::String>().Utf8Value();
  bpf_map* map = bpf_object__find_map_by_name(object_, map_name.c_str());
  if (map == nullptr) ThrowKernelError(env, "EBPF_NOT_FOUND", ENOENT, "no map '" + map_name + "' in " + path_);
  return map;
}

Napi::Value BpfObject::Programs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!EnsureOpen(env)) return env.Undefined();
  Napi::Array result = Napi::Array::New(env);
  uint32_t index = 0;
  bpf_program* program;
  bpf_object__for_each_program(program, object_) {
    Napi::Object entry = Napi::Object::New(env);
    entry.Set("name", bpf_program__name(program));
    entry.Set("section", bpf_program__section_name(program));
    const char* type = libbpf_bpf_prog_type_str(bpf_program__type(program));
    entry.Set("type", type != nullptr ? type : "unknown");
    entry.Set("autoload", bpf_program__autoload(program));
    result.Set(index++, entry);
  }
  return result;
}

Napi::Value BpfObject::Maps(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!EnsureOpen(env)) return env.Undefined();
  Napi::Array result = Napi::Array::New(env);
  uint32_t index = 0;
  bpf_map* map;
  bpf_object__for_each_map(map, object_) {
    Napi::Object entry = Napi::Object::New(env);
    entry.Set("name", bpf_map__name(map));
    const char* type = libbpf_bpf_map_type_str(bpf_map__type(map));
    entry.Set("type", type != nullptr ? type : "unknown");
    entry.Set("keySize", bpf_map__key_size(map));
    entry.Set("valueSize", bpf_map__value_size(map));
    entry.Set("maxEntries", bpf_map__max_entries(map));
    result.Set(index++, entry);
  }
  return result;
}

// setAutoload(program: string, autoload: boolean)
Napi::Value BpfObject::SetAutoload(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  bpf_program* program = FindProgram(env, info[0]);
  if (program == nullptr) return env.Undefined();
  int error = bpf_program__set_autoload(program, info[1].ToBoolean().Value());
  if (error != 0) return ThrowKernelError(env, "EBPF_CONFIG", -error, "cannot change autoload after load");
  return env.Undefined();
}

// setRodata(variable: string, value: Buffer): writes a `const volatile` variable before load. Its offset and
// size come from the BTF of the .rodata datasec, so the value must be exactly the variable's size.
Napi::Value BpfObject::SetRodata(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!EnsureOpen(env) || !IsString(env, info[0], "variable name")) return env.Undefined();
  if (!info[1].IsBuffer()) {
    Napi::TypeError::New(env, "setRodata value must be a Buffer").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  std::string variable = info[0].As<Napi::String>().Utf8Value();
  Napi::Buffer<uint8_t> value = info[1].As<Napi::Buffer<uint8_t>>();
  if (loaded_) return ThrowKernelError(env, "EBPF_CONFIG", EBUSY, "cannot set .rodata '" + variable + "' after load");

  bpf_map* rodata = bpf_object__find_map_by_name(object_, ".rodata");
  const btf* object_btf = bpf_object__btf(object_);
  if (rodata == nullptr || object_btf == nullptr) {
    return ThrowKernelError(env, "EBPF_NOT_FOUND", ENOENT, path_ + " has no .rodata section with BTF");
  }
  int datasec_id = btf__find_by_name_kind(object_btf, ".rodata", BTF_KIND_DATASEC);
  if (datasec_id < 0) return ThrowKernelError(env, "EBPF_NOT_FOUND", ENOENT, path_ + " has no .rodata datasec");
  const btf_type* datasec = btf__type_by_id(object_btf, datasec_id);
  const btf_var_secinfo* secinfo = btf_var_secinfos(datasec);
  for (int i = 0; i < btf_vlen(datasec); i++, secinfo++) {
    const btf_type* var = btf__type_by_id(object_btf, secinfo->type);
    if (variable != btf__name_by_offset(object_btf, var->name_off)) continue;
    if (secinfo->size != value.Length()) {
      return ThrowKernelError(env, "EBPF_CONFIG", EINVAL,
                              ".rodata '" + variable + "' is " + std::to_string(secinfo->size) + " bytes, got " +
                                  std::to_string(value.Length()));
    }
    size_t size = 0;
    const void* current = bpf_map__initial_value(rodata, &size);
    if (current == nullptr || secinfo->offset + secinfo->size > size) {
      return ThrowKernelError(env, "EBPF_CONFIG", EINVAL, ".rodata of " + path_ + " is smaller than its BTF says");
    }
    std::vector<uint8_t> image(static_cast<const uint8_t*>(current), static_cast<const uint8_t*>(current) + size);
    memcpy(image.data() + secinfo->offset, value.Data(), secinfo->size);
    int error = bpf_map__set_initial_value(rodata, image.data(), image.size());
    if (error != 0) return ThrowKernelError(env, "EBPF_CONFIG", -error, "cannot set .rodata '" + variable + "'");
    return env.Undefined();
  }
  return ThrowKernelError(env, "EBPF_NOT_FOUND", ENOENT, "no .rodata variable '" + variable + "' in " + path_);
}

// resizeMap(map: string, maxEntries: number)
Napi::Value BpfObject::ResizeMap(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  bpf_map* map = FindMap(env, info[0]);
  if (map == nullptr) return env.Undefined();
  int error = bpf_map__set_max_entries(map, info[1].ToNumber().Uint32Value());
  if (error != 0) return ThrowKernelError(env, "EBPF_CONFIG", -error, "cannot resize map " + std::string(bpf_map__name(map)));
  return env.Undefined();
}

Napi::Value BpfObject::Load(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!EnsureOpen(env)) return env.Undefined();
  LogCapture capture(&log_);
  int error = bpf_object__load(object_);
  // Loading parses the kernel's BTF (megabytes of small allocations) and frees it again; without a trim those
  // pages stay in the agent's RSS for good (measured: ~10 MB).
  malloc_trim(0);
  if (error != 0) return ThrowKernelError(env, "EBPF_LOAD", -error, "cannot load " + path_, LogTail(log_));
  loaded_ = true;
  return env.Undefined();
}

Napi::Value BpfObject::RememberLink(Napi::Env env, bpf_link* link, const std::string& what) {
  int error = libbpf_get_error(link);
  if (error != 0) return ThrowKernelError(env, "EBPF_ATTACH", -error, "cannot attach " + what, LogTail(log_));
  uint32_t id = next_link_id_++;
  links_[id] = link;
  return Napi::Number::New(env, id);
}

// attach(program: string) → link id: attaches where the program's SEC() says.
Napi::Value BpfObject::Attach(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  bpf_program* program = FindProgram(env, info[0]);
  if (program == nullptr) return env.Undefined();
  LogCapture capture(&log_);
  errno = 0;
  return RememberLink(env, bpf_program__attach(program), bpf_program__name(program));
}

// attachTracepoint(program: string, tracepointId: number) → link id. The id comes from
// <tracefs>/events/<category>/<name>/id, read by the caller, so a tracefs mounted anywhere works.
Napi::Value BpfObject::AttachTracepoint(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  bpf_program* program = FindProgram(env, info[0]);
  if (program == nullptr) return env.Undefined();
  perf_event_attr attr = {};
  attr.type = PERF_TYPE_TRACEPOINT;
  attr.size = sizeof(attr);
  attr.config = info[1].ToNumber().Int64Value();
  attr.sample_period = 1;
  attr.wakeup_events = 1;
  int perf_fd = static_cast<int>(syscall(SYS_perf_event_open, &attr, -1, 0, -1, PERF_FLAG_FD_CLOEXEC));
  if (perf_fd < 0) {
    return ThrowKernelError(env, "EBPF_ATTACH", errno,
                            std::string("perf_event_open for tracepoint of ") + bpf_program__name(program));
  }
  LogCapture capture(&log_);
  errno = 0;
  bpf_link* link = bpf_program__attach_perf_event(program, perf_fd);
  if (libbpf_get_error(link) != 0) close(perf_fd);  // on success the link owns the perf fd
  return RememberLink(env, link, bpf_program__name(program));
}

// attachUprobe(program: string, binaryPath: string, functionName: string) → link id, for every process.
Napi::Value BpfObject::AttachUprobe(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  bpf_program* program = FindProgram(env, info[0]);
  if (program == nullptr || !IsString(env, info[1], "binary path") || !IsString(env, info[2], "function name")) {
    return env.Undefined();
  }
  std::string binary = info[1].As<Napi::String>().Utf8Value();
  std::string function = info[2].As<Napi::String>().Utf8Value();
  LIBBPF_OPTS(bpf_uprobe_opts, options, .func_name = function.c_str());
  LogCapture capture(&log_);
  errno = 0;
  bpf_link* link = bpf_program__attach_uprobe_opts(program, -1, binary.c_str(), 0, &options);
  return RememberLink(env, link, std::string(bpf_program__name(program)) + " to " + binary + ":" + function);
}

// detach(linkId: number): unknown ids are ignored so detaching twice is harmless.
Napi::Value BpfObject::Detach(const Napi::CallbackInfo& info) {
  auto found = links_.find(info[0].ToNumber().Uint32Value());
  if (found != links_.end()) {
    bpf_link__destroy(found->second);
    links_.erase(found);
  }
  return info.Env().Undefined();
}

Napi::Value BpfObject::MapFd(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  bpf_map* map = FindMap(env, info[0]);
  if (map == nullptr) return env.Undefined();
  return Napi::Number::New(env, bpf_map__fd(map));
}

// mapUpdate(map: string, key: Buffer, value: Buffer)
Napi::Value BpfObject::MapUpdate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  bpf_map* map = FindMap(env, info[0]);
  if (map == nullptr) return env.Undefined();
  if (!info[1].IsBuffer() || !info[2].IsBuffer()) {
    Napi::TypeError::New(env, "mapUpdate key and value must be Buffers").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  auto key = info[1].As<Napi::Buffer<uint8_t>>();
  auto value = info[2].As<Napi::Buffer<uint8_t>>();
  int error = bpf_map__update_elem(map, key.Data(), key.Length(), value.Data(), value.Length(), BPF_ANY);
  if (error != 0) {
    return ThrowKernelError(env, "EBPF_MAP", -error, std::string("cannot update map ") + bpf_map__name(map));
  }
  return env.Undefined();
}

// mapDelete(map: string, key: Buffer) → boolean: false when the key was not there
Napi::Value BpfObject::MapDelete(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  bpf_map* map = FindMap(env, info[0]);
  if (map == nullptr) return env.Undefined();
  if (!info[1].IsBuffer()) {
    Napi::TypeError::New(env, "mapDelete key must be a Buffer").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  auto key = info[1].As<Napi::Buffer<uint8_t>>();
  int error = bpf_map__delete_elem(map, key.Data(), key.Length(), 0);
  if (error == -ENOENT) return Napi::Boolean::New(env, false);
  if (error != 0) {
    return ThrowKernelError(env, "EBPF_MAP", -error, std::string("cannot delete from map ") + bpf_map__name(map));
  }
  return Napi::Boolean::New(env, true);
}

// mapLookup(map: string, key: Buffer) → Buffer | null
Napi::Value BpfObject::MapLookup(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  bpf_map* map = FindMap(env, info[0]);
  if (map == nullptr) return env.Undefined();
  if (!info[1].IsBuffer()) {
    Napi::TypeError::New(env, "mapLookup key must be a Buffer").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  auto key = info[1].As<Napi::Buffer<uint8_t>>();
  Napi::Buffer<uint8_t> value = Napi::Buffer<uint8_t>::New(env, bpf_map__value_size(map));
  int error = bpf_map__lookup_elem(map, key.Data(), key.Length(), value.Data(), value.Length(), 0);
  if (error == -ENOENT) return env.Null();
  if (error != 0) {
    return ThrowKernelError(env, "EBPF_MAP", -error, std::string("cannot look up map ") + bpf_map__name(map));
  }
  return value;
}

// perCpuSum(map: string, key: number) → bigint: a u64 per-CPU array element summed over every possible CPU.
Napi::Value BpfObject::PerCpuSum(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  bpf_map* map = FindMap(env, info[0]);
  if (map == nullptr) return env.Undefined();
  if (bpf_map__value_size(map) != sizeof(uint64_t) || bpf_map__key_size(map) != sizeof(uint32_t)) {
    return ThrowKernelError(env, "EBPF_MAP", EINVAL, std::string(bpf_map__name(map)) + " is not a u32 → u64 map");
  }
  int cpus = libbpf_num_possible_cpus();
  if (cpus <= 0) return ThrowKernelError(env, "EBPF_MAP", -cpus, "cannot count possible CPUs");
  std::vector<uint64_t> values(cpus);
  uint32_t key = info[1].ToNumber().Uint32Value();
  int error = bpf_map__lookup_elem(map, &key, sizeof(key), values.data(), values.size() * sizeof(uint64_t), 0);
  if (error != 0) {
    return ThrowKernelError(env, "EBPF_MAP", -error, std::string("cannot look up map ") + bpf_map__name(map));
  }
  uint64_t sum = 0;
  for (uint64_t value : values) sum += value;
  return Napi::BigInt::New(env, sum);
}

// mapEntries(map: string) → { keys: Buffer, values: Buffer }: every entry of a map that is not per-CPU, keys and
// values each back to back in the same order. Entries added during the walk may or may not be in it; one deleted
// during it can make the kernel restart the walk, so it is bounded by max_entries steps (callers that need an
// exact snapshot must not delete concurrently).
Napi::Value BpfObject::MapEntries(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  bpf_map* map = FindMap(env, info[0]);
  if (map == nullptr) return env.Undefined();
  size_t key_size = bpf_map__key_size(map);
  size_t value_size = bpf_map__value_size(map);
  size_t max_entries = bpf_map__max_entries(map);
  std::vector<uint8_t> keys;
  std::vector<uint8_t> values;
  std::vector<uint8_t> key(key_size);
  std::vector<uint8_t> next(key_size);
  std::vector<uint8_t> value(value_size);
  const void* previous = nullptr;
  for (size_t step = 0; step < max_entries; step++) {
    int error = bpf_map__get_next_key(map, previous, next.data(), key_size);
    if (error == -ENOENT) break;
    if (error != 0) {
      return ThrowKernelError(env, "EBPF_MAP", -error, std::string("cannot walk map ") + bpf_map__name(map));
    }
    key.swap(next);
    previous = key.data();
    error = bpf_map__lookup_elem(map, key.data(), key_size, value.data(), value_size, 0);
    if (error == -ENOENT) continue;  // deleted since get_next_key
    if (error != 0) {
      return ThrowKernelError(env, "EBPF_MAP", -error, std::string("cannot look up map ") + bpf_map__name(map));
    }
    keys.insert(keys.end(), key.begin(), key.end());
    values.insert(values.end(), value.begin(), value.end());
  }
  Napi::Object entries = Napi::Object::New(env);
  entries.Set("keys", Napi::Buffer<uint8_t>::Copy(env, keys.data(), keys.size()));
  entries.Set("values", Napi::Buffer<uint8_t>::Copy(env, values.data(), values.size()));
  return entries;
}

// runIterator(program: string) → Buffer: creates the iterator link, reads it to EOF (which is when the
// program runs), and returns whatever the program wrote to the seq file.
Napi::Value BpfObject::RunIterator(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  bpf_program* program = FindProgram(env, info[0]);
  if (program == nullptr) return env.Undefined();
  LogCapture capture(&log_);
  errno = 0;
  bpf_link* link = bpf_program__attach_iter(program, nullptr);
  int error = libbpf_get_error(link);
  if (error != 0) {
    return ThrowKernelError(env, "EBPF_ITER", -error, std::string("cannot attach iterator ") + bpf_program__name(program),
                            LogTail(log_));
  }
  int iter_fd = bpf_iter_create(bpf_link__fd(link));
  if (iter_fd < 0) {
    int iter_errno = errno;
    bpf_link__destroy(link);
    return ThrowKernelError(env, "EBPF_ITER", iter_errno, std::string("cannot create iterator ") + bpf_program__name(program));
  }
  std::string output;
  char chunk[4096];
  int read_errno = 0;
  for (;;) {
    ssize_t n = read(iter_fd, chunk, sizeof(chunk));
    if (n > 0) {
      output.append(chunk, n);
    } else if (n == 0) {
      break;
    } else if (errno != EINTR) {
      read_errno = errno;
      break;
    }
  }
  close(iter_fd);
  bpf_link__destroy(link);
  if (read_errno != 0) {
    return ThrowKernelError(env, "EBPF_ITER", read_errno, std::string("reading iterator ") + bpf_program__name(program));
  }
  return Napi::Buffer<char>::Copy(env, output.data(), output.size());
}

// programStats() → [{ name, runCount: bigint, runTimeNs: bigint }] for loaded programs. The kernel only counts
// while /proc/sys/kernel/bpf_stats_enabled is 1 (the caller decides).
Napi::Value BpfObject::ProgramStats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!EnsureOpen(env)) return env.Undefined();
  Napi::Array result = Napi::Array::New(env);
  uint32_t index = 0;
  bpf_program* program;
  bpf_object__for_each_program(program, object_) {
    int fd = bpf_program__fd(program);
    if (fd < 0) continue;
    bpf_prog_info prog_info = {};
    uint32_t length = sizeof(prog_info);
    int error = bpf_obj_get_info_by_fd(fd, &prog_info, &length);
    if (error != 0) return ThrowKernelError(env, "EBPF_STATS", -error, std::string("cannot read stats of ") + bpf_program__name(program));
    Napi::Object entry = Napi::Object::New(env);
    entry.Set("name", bpf_program__name(program));
    entry.Set("runCount", Napi::BigInt::New(env, static_cast<uint64_t>(prog_info.run_cnt)));
    entry.Set("runTimeNs", Napi::BigInt::New(env, static_cast<uint64_t>(prog_info.run_time_ns)));
    entry.Set("recursionMisses", Napi::BigInt::New(env, static_cast<uint64_t>(prog_info.recursion_misses)));
    result.Set(index++, entry);
  }
  return result;
}

Napi::Value BpfObject::Close(const Napi::CallbackInfo& info) {
  CloseResources();
  return info.Env().Undefined();
}

}  // namespace kubesentry
