#include "ring_buffer_reader.h"

#include <bpf/libbpf.h>
#include <poll.h>
#include <pthread.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <new>

#include "kernel_error.h"

namespace kubesentry {

namespace {

void FreeBatchData(napi_env, void* data, void*) { free(data); }

// OnRecord's answer that stops ring_buffer__consume() because the read's room under maxQueuedBytes is spent (the
// record it answers for is already taken). Any negative value stops it; budget_spent_ tells this one from a failure.
constexpr int kStopReading = -ENOBUFS;

// The thread's notice of its failure: onStopped(reason, errno), through the same queue as the batches before it.
void DeliverFailure(napi_env env, const Napi::FunctionReference& on_stopped, const Batch& notice) {
  if (on_stopped.IsEmpty()) return;
  napi_value args[2];
  napi_value receiver;
  napi_value result;
  if (napi_create_string_utf8(env, notice.failure, NAPI_AUTO_LENGTH, &args[0]) != napi_ok ||
      napi_create_int32(env, notice.failure_errno, &args[1]) != napi_ok || napi_get_undefined(env, &receiver) != napi_ok) {
    return;
  }
  if (napi_call_function(env, receiver, on_stopped.Value(), 2, args, &result) == napi_pending_exception) {
    napi_value error;
    if (napi_get_and_clear_last_exception(env, &error) == napi_ok) napi_fatal_exception(env, error);
  }
}

}  // namespace

// Runs on the JS thread for each batch; env is null when the environment is going away with batches still
// queued, and then the batch is only freed. Raw Node-API calls with checked statuses: while a worker terminates
// every call into JS fails, and that must free the batch, not abort the process.
void DeliverBatch(Napi::Env env, Napi::Function callback, DeliveryContext* context, Batch* batch) {
  ReaderShared& shared = *context->shared;
  bool deliver = env != nullptr && callback != nullptr;
  {
    std::lock_guard<std::mutex> lock(shared.mutex);
    shared.queued_bytes -= batch->size;
    if (shared.closed) deliver = false;
  }
  shared.changed.notify_all();
  if (batch->data == nullptr) {
    if (deliver) DeliverFailure(env, context->on_stopped, *batch);
    delete batch;
    return;
  }
  uint8_t* data = batch->data;
  size_t size = batch->size;
  uint64_t records = batch->records;
  delete batch;
  napi_value buffer = nullptr;
  if (deliver && napi_create_external_buffer(env, size, data, FreeBatchData, nullptr, &buffer) != napi_ok) {
    // Runtimes that forbid external buffers get a copy.
    void* copy = nullptr;
    if (napi_create_buffer_copy(env, size, data, &copy, &buffer) != napi_ok) buffer = nullptr;
    free(data);
    data = nullptr;
  }
  if (buffer == nullptr) {
    shared.undelivered_batches.fetch_add(1, std::memory_order_relaxed);
    shared.undelivered_records.fetch_add(records, std::memory_order_relaxed);
    free(data);
    return;
  }
  napi_value receiver;
  napi_value result;
  napi_get_undefined(env, &receiver);
  if (napi_call_function(env, receiver, callback, 1, &buffer, &result) == napi_pending_exception) {
    // A throwing handler is a bug in the agent: report it as any uncaught exception (process 'uncaughtException'),
    // not the warning Node-API prints for exceptions escaping thread-safe callbacks.
    napi_value error;
    if (napi_get_and_clear_last_exception(env, &error) == napi_ok) napi_fatal_exception(env, error);
  }
  // The batch is the callback's only for the call (the decoder copies what it keeps). Detaching frees it now: left
  // to the garbage collector, a storm had ~64 MiB of finished batches waiting for a GC that V8's external-memory
  // heuristics put off, beyond maxQueuedBytes. A Buffer kept past the call reads as empty, never as freed memory.
  napi_value arraybuffer;
  if (napi_get_typedarray_info(env, buffer, nullptr, nullptr, nullptr, &arraybuffer, nullptr) == napi_ok) {
    napi_detach_arraybuffer(env, arraybuffer);
  }
}

Napi::Function RingBufferReader::Define(Napi::Env env) {
  return DefineClass(env, "RingBufferReader",
                     {
                         InstanceMethod<&RingBufferReader::Pause>("pause"),
                         InstanceMethod<&RingBufferReader::Resume>("resume"),
                         InstanceMethod<&RingBufferReader::Stats>("stats"),
                         InstanceMethod<&RingBufferReader::Close>("close"),
                     });
}

// new RingBufferReader(mapFd: number, onBatch: (batch: Buffer) => void,
//                      options: { maxBatchBytes: number, maxQueuedBytes: number, pollIntervalMs: number,
//                                 coalesceBelowBytes?: number, onStopped?: (reason: string, errno: number) => void })
RingBufferReader::RingBufferReader(const Napi::CallbackInfo& info) : Napi::ObjectWrap<RingBufferReader>(info) {
  Napi::Env env = info.Env();
  if (info.Length() < 3 || !info[0].IsNumber() || !info[1].IsFunction() || !info[2].IsObject()) {
    Napi::TypeError::New(env, "RingBufferReader(mapFd, onBatch, options) expects a number, a function and an object")
        .ThrowAsJavaScriptException();
    return;
  }
  Napi::Object options = info[2].As<Napi::Object>();
  shared_ = std::make_shared<ReaderShared>();
  max_batch_bytes_ = options.Get("maxBatchBytes").ToNumber().Int64Value();
  shared_->max_queued_bytes = options.Get("maxQueuedBytes").ToNumber().Int64Value();
  poll_interval_ms_ = options.Get("pollIntervalMs").ToNumber().Int32Value();
  if (options.Has("coalesceBelowBytes")) coalesce_below_bytes_ = options.Get("coalesceBelowBytes").ToNumber().Int64Value();

  map_fd_ = dup(info[0].As<Napi::Number>().Int32Value());
  if (map_fd_ < 0) {
    ThrowKernelError(env, "EBPF_RINGBUF", errno, "cannot duplicate ring buffer map fd");
    return;
  }
  ring_ = ring_buffer__new(map_fd_, &RingBufferReader::OnRecord, this, nullptr);
  if (ring_ == nullptr) {
    ThrowKernelError(env, "EBPF_RINGBUF", errno, "cannot map ring buffer");
    CloseResources();
    return;
  }
  // A private epoll set: the ring's map fd, edge-triggered, and an eventfd so close(), pause() and resume() wake
  // the thread at once. Edge-triggered because a ring holding any data polls readable: level-triggered, the
  // thread would spin on a few records at a time and defeat the BPF side's batched wakeups (wakeup_batch_bytes).
  // Edges come only from the kernel's wakeups; records submitted without one are picked up by the poll interval.
  wake_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
  epoll_event ring_event = {};
  ring_event.events = EPOLLIN | EPOLLET;
  ring_event.data.u32 = 0;
  epoll_event wake_event = {};
  wake_event.events = EPOLLIN;
  wake_event.data.u32 = 1;
  if (wake_fd_ < 0 || epoll_fd_ < 0 ||
      epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, map_fd_, &ring_event) != 0 ||
      epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, wake_fd_, &wake_event) != 0) {
    ThrowKernelError(env, "EBPF_RINGBUF", errno, "cannot set up ring buffer polling");
    CloseResources();
    return;
  }
  auto* context = new DeliveryContext{shared_, Napi::FunctionReference()};
  Napi::Value on_stopped = options.Get("onStopped");
  if (on_stopped.IsFunction()) context->on_stopped = Napi::Persistent(on_stopped.As<Napi::Function>());
  deliver_ = BatchFunction::New(env, info[1].As<Napi::Function>(), "kubesentry.ringBuffer", 0, 1, context,
                                [](Napi::Env, void*, DeliveryContext* context) { delete context; });
  running_ = true;
  CloseWithEnvironment(env);  // after the thread-safe function exists: see Closable
  thread_ = std::thread(&RingBufferReader::Run, this);
}

RingBufferReader::~RingBufferReader() { CloseResources(); }

// The eventfd counts the signals since the last read; one read resets it, however many came.
void RingBufferReader::DrainWakeFd() {
  uint64_t count;
  ssize_t ignored = read(wake_fd_, &count, sizeof(count));
  (void)ignored;
}

void RingBufferReader::Wake() {
  if (wake_fd_ < 0) return;
  uint64_t one = 1;
  ssize_t ignored = write(wake_fd_, &one, sizeof(one));
  (void)ignored;
}

// libbpf has taken the record off the ring whatever this returns; a negative answer only ends the consume call.
int RingBufferReader::OnRecord(void* context, void* data, size_t size) {
  auto* reader = static_cast<RingBufferReader*>(context);
  if (!reader->AppendRecord(data, size)) return -ENOMEM;
  if (reader->read_bytes_ >= reader->read_budget_) {
    reader->budget_spent_ = true;
    return kStopReading;
  }
  return 0;
}

void RingBufferReader::Fail(const char* what, int error) {
  if (failure_.what == nullptr) failure_ = {what, error};
}

// False when memory ran out: the record is then counted as undelivered (it has left the ring) and failure_ set.
bool RingBufferReader::AppendRecord(const void* data, size_t size) {
  if (current_.size > 0 && current_.size + size > max_batch_bytes_ && !Flush()) {
    shared_->undelivered_records.fetch_add(1, std::memory_order_relaxed);
    return false;
  }
  if (current_.size + size > scratch_capacity_) {
    size_t capacity = size > max_batch_bytes_ ? size : max_batch_bytes_;
    void* grown = realloc(scratch_, capacity);
    if (grown == nullptr) {
      Fail("cannot allocate the batch buffer", ENOMEM);
      shared_->undelivered_records.fetch_add(1, std::memory_order_relaxed);
      return false;
    }
    scratch_ = static_cast<uint8_t*>(grown);
    scratch_capacity_ = capacity;
  }
  memcpy(scratch_ + current_.size, data, size);
  current_.size += size;
  current_.records++;
  read_bytes_ += size;
  return true;
}

// Sleeps until `due` or until close(), pause() or resume() signals the eventfd; true when signalled. Only the
// eventfd is watched: ring wakeups meanwhile stay pending on the edge-triggered epoll set for the read that follows.
bool RingBufferReader::WaitUntil(std::chrono::steady_clock::time_point due) {
  for (;;) {
    auto now = std::chrono::steady_clock::now();
    if (now >= due) return false;
    int timeout_ms = static_cast<int>(std::chrono::ceil<std::chrono::milliseconds>(due - now).count());
    pollfd wake = {wake_fd_, POLLIN, 0};
    if (poll(&wake, 1, timeout_ms) > 0) {
      DrainWakeFd();
      return true;
    }
  }
}

// False when memory ran out: what scratch_ held is then counted as undelivered and failure_ set.
bool RingBufferReader::Flush() {
  if (current_.size == 0) return true;
  // Records are gathered in one reused buffer and each batch gets an allocation of exactly its size: allocating
  // maxBatchBytes per batch and shrinking it left the allocator's arenas fragmented (measured: ~15 MB of RSS).
  uint8_t* data = static_cast<uint8_t*>(malloc(current_.size));
  Batch* batch = data == nullptr ? nullptr : new (std::nothrow) Batch{data, current_.size, current_.records};
  if (batch == nullptr) {
    free(data);
    Fail("cannot allocate a batch", ENOMEM);
    shared_->undelivered_batches.fetch_add(1, std::memory_order_relaxed);
    shared_->undelivered_records.fetch_add(current_.records, std::memory_order_relaxed);
    current_ = {nullptr, 0, 0};
    return false;
  }
  memcpy(data, scratch_, current_.size);
  current_ = {nullptr, 0, 0};
  {
    std::lock_guard<std::mutex> lock(shared_->mutex);
    shared_->queued_bytes += batch->size;
    if (shared_->queued_bytes > shared_->queued_bytes_high_water) shared_->queued_bytes_high_water = shared_->queued_bytes;
  }
  shared_->batches.fetch_add(1, std::memory_order_relaxed);
  shared_->records.fetch_add(batch->records, std::memory_order_relaxed);
  shared_->bytes.fetch_add(batch->size, std::memory_order_relaxed);
  if (deliver_.NonBlockingCall(batch) != napi_ok) {
    // The environment is closing: nobody is left to read the batch.
    std::lock_guard<std::mutex> lock(shared_->mutex);
    shared_->queued_bytes -= batch->size;
    shared_->undelivered_batches.fetch_add(1, std::memory_order_relaxed);
    shared_->undelivered_records.fetch_add(batch->records, std::memory_order_relaxed);
    free(batch->data);
    delete batch;
  }
  return true;
}

void RingBufferReader::Run() {
  // Named so that per-thread CPU (top -H, /proc/<pid>/task) tells the reader from the JS thread.
  pthread_setname_np(pthread_self(), "ks-ring-reader");
  ReadUntilStopped();
  if (failure_.what == nullptr) Flush();
  if (failure_.what != nullptr) {
    // What was read and not handed over is lost with the thread: counted, so the accounting stays exact.
    shared_->undelivered_records.fetch_add(current_.records, std::memory_order_relaxed);
    if (current_.records > 0) shared_->undelivered_batches.fetch_add(1, std::memory_order_relaxed);
    current_ = {nullptr, 0, 0};
    ReportFailure();
  }
  // Unblock a pause() waiting for acknowledgement, now or later, if the loop ended for another reason.
  std::lock_guard<std::mutex> lock(shared_->mutex);
  shared_->exited = true;
  shared_->changed.notify_all();
}

// Kept in stats() for JS to poll, and sent as onStopped() behind the batches already queued.
void RingBufferReader::ReportFailure() {
  {
    std::lock_guard<std::mutex> lock(shared_->mutex);
    shared_->failure = failure_;
  }
  Batch* notice = new (std::nothrow) Batch{nullptr, 0, 0, failure_.what, failure_.error};
  // Without memory for the notice, or with the environment closing, stats() still tells.
  if (notice != nullptr && deliver_.NonBlockingCall(notice) != napi_ok) delete notice;
}

void RingBufferReader::ReadUntilStopped() {
  ReaderShared& shared = *shared_;
  // After waiting on JS or a pause, records may already be waiting whose wakeup edge was spent: read them first.
  bool read_before_waiting = true;
  // In a steady trickle of urgent records that is being coalesced into one read per poll interval.
  bool trickling = false;
  auto last_read_at = std::chrono::steady_clock::time_point::min();
  size_t last_read_bytes = 0;
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(shared.mutex);
      if (shared.paused && !shared.stop) {
        shared.parked = true;
        shared.changed.notify_all();
        shared.changed.wait(lock, [&] { return !shared.paused || shared.stop; });
        shared.parked = false;
        read_before_waiting = true;
      }
      if (!shared.stop && shared.queued_bytes >= shared.max_queued_bytes) {
        shared.flow_control_waits.fetch_add(1, std::memory_order_relaxed);
        shared.changed.wait(lock, [&] {
          return shared.queued_bytes < shared.max_queued_bytes || shared.stop || shared.paused;
        });
        read_before_waiting = true;
      }
      if (shared.stop) break;
      if (shared.paused) continue;
      // JS only takes from the queue meanwhile, so this room is never more than what is left when the read ends.
      read_budget_ = shared.max_queued_bytes - shared.queued_bytes;
    }
    if (!read_before_waiting) {
      bool ring_woke = false;
      bool signalled = false;
      // Collects what the epoll set holds: ring wakeup edges and signals from close(), pause() and resume().
      auto collect = [&](int timeout_ms) {
        epoll_event events[2];
        int ready = epoll_wait(epoll_fd_, events, 2, timeout_ms);
        if (ready < 0 && errno != EINTR) {
          Fail("epoll_wait failed", errno);
          return false;
        }
        for (int i = 0; i < ready; i++) {
          if (events[i].data.u32 == 1) {
            DrainWakeFd();
            signalled = true;
          } else {
            ring_woke = true;
          }
        }
        return true;
      };
      const auto next_read_at = last_read_at + std::chrono::milliseconds(poll_interval_ms_);
      // Within a steady trickle the next read is due one interval after the last whatever wakes meanwhile, so the
      // thread sleeps straight to it: one wakeup per interval instead of one for the first urgent record plus one
      // for the end of the wait (each thread wakeup is a measurable cost on small VMs). The epoll set then tells
      // whether an urgent record came during the interval; if none did, the trickle has ended.
      if (trickling) signalled = WaitUntil(next_read_at);
      if (!collect(trickling ? 0 : poll_interval_ms_)) break;
      if (trickling) {
        trickling = ring_woke && !signalled;
      } else if (ring_woke && !signalled && coalesce_below_bytes_ > 0 && last_read_bytes < coalesce_below_bytes_) {
        // The BPF side wakes us at once for records that may be detections. When the last read was small and
        // recent, a steady trickle of those would cost a JS batch each (measured: twice the agent's CPU at 100
        // detections/s); waiting out the poll interval keeps one batch per interval, and a lone record after a
        // quiet spell still goes through at once. A large last read means load: every wakeup is read at once.
        trickling = !WaitUntil(next_read_at);
      }
    }
    read_before_waiting = false;
    {
      // Re-check after waking: a pause() that raced with the wait must not see records consumed after it.
      std::lock_guard<std::mutex> lock(shared.mutex);
      if (shared.stop) break;
      if (shared.paused) continue;
    }
    // Consuming on timeouts too picks up records the BPF side submitted without a wakeup (batched wakeups).
    read_bytes_ = 0;
    budget_spent_ = false;
    int consumed = ring_buffer__consume(ring_);
    if (read_bytes_ > 0) {
      last_read_at = std::chrono::steady_clock::now();
      last_read_bytes = read_bytes_;
    }
    if (read_bytes_ == 0 || read_bytes_ >= coalesce_below_bytes_) trickling = false;
    if (failure_.what != nullptr) break;
    if (consumed < 0 && !budget_spent_) {
      Fail("ring_buffer__consume failed", -consumed);
      break;
    }
    // The ring still holds what this read left: the next one goes straight to it, once the queue has room.
    if (budget_spent_) read_before_waiting = true;
    if (!Flush()) break;
  }
}

// pause(): returns once the thread has stopped reading; from then on the kernel ring fills up.
Napi::Value RingBufferReader::Pause(const Napi::CallbackInfo& info) {
  if (!running_) return info.Env().Undefined();
  std::unique_lock<std::mutex> lock(shared_->mutex);
  shared_->paused = true;
  shared_->parked = false;
  lock.unlock();
  shared_->changed.notify_all();
  Wake();
  lock.lock();
  shared_->changed.wait(lock, [&] { return shared_->parked || shared_->stop || shared_->exited; });
  return info.Env().Undefined();
}

Napi::Value RingBufferReader::Resume(const Napi::CallbackInfo& info) {
  if (!running_) return info.Env().Undefined();
  {
    std::lock_guard<std::mutex> lock(shared_->mutex);
    shared_->paused = false;
  }
  shared_->changed.notify_all();
  Wake();
  return info.Env().Undefined();
}

Napi::Value RingBufferReader::Stats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object stats = Napi::Object::New(env);
  if (!shared_) return stats;
  uint64_t queued;
  uint64_t high_water;
  bool paused;
  ReaderFailure failure;
  {
    std::lock_guard<std::mutex> lock(shared_->mutex);
    queued = shared_->queued_bytes;
    high_water = shared_->queued_bytes_high_water;
    paused = shared_->paused;
    failure = shared_->failure;
  }
  stats.Set("batches", Napi::BigInt::New(env, shared_->batches.load()));
  stats.Set("records", Napi::BigInt::New(env, shared_->records.load()));
  stats.Set("bytes", Napi::BigInt::New(env, shared_->bytes.load()));
  stats.Set("queuedBytes", Napi::BigInt::New(env, queued));
  stats.Set("queuedBytesHighWater", Napi::BigInt::New(env, high_water));
  stats.Set("flowControlWaits", Napi::BigInt::New(env, shared_->flow_control_waits.load()));
  stats.Set("undeliveredBatches", Napi::BigInt::New(env, shared_->undelivered_batches.load()));
  stats.Set("undeliveredRecords", Napi::BigInt::New(env, shared_->undelivered_records.load()));
  stats.Set("paused", Napi::Boolean::New(env, paused));
  stats.Set("lastErrno", Napi::Number::New(env, failure.error));
  stats.Set("failure", failure.what == nullptr ? env.Null() : Napi::String::New(env, failure.what));
  return stats;
}

void RingBufferReader::CloseResources() {
  ForgetEnvironment();
  if (running_) {
    {
      std::lock_guard<std::mutex> lock(shared_->mutex);
      shared_->stop = true;
    }
    shared_->changed.notify_all();
    Wake();
    thread_.join();
    {
      std::lock_guard<std::mutex> lock(shared_->mutex);
      shared_->closed = true;
    }
    deliver_.Release();
    running_ = false;
  }
  if (ring_ != nullptr) {
    ring_buffer__free(ring_);
    ring_ = nullptr;
  }
  for (int* fd : {&epoll_fd_, &wake_fd_, &map_fd_}) {
    if (*fd >= 0) close(*fd);
    *fd = -1;
  }
  free(scratch_);  // the thread is joined: nothing appends any more
  scratch_ = nullptr;
  scratch_capacity_ = 0;
}

Napi::Value RingBufferReader::Close(const Napi::CallbackInfo& info) {
  CloseResources();
  return info.Env().Undefined();
}

}  // namespace kubesentry
