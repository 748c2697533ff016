#include "thread-pool.h"

#include <sched.h>

#include <chrono>
#include <cstdlib>
#include <new>

namespace peregrine {

namespace {

// How long an idle worker spins before it sleeps, and how long the caller spins waiting for
// the last tasks before it starts yielding its core. A worker that has read ahead (a decode loop)
// spins longer, through the gap between two tokens: asleep, it joined the next token's first
// matmul ~115 us late (a wake-up in this VM; measured, Q4_0 Llama-3.2-1B shape, once a token).
constexpr auto kSpinBeforeSleep = std::chrono::microseconds(100);
constexpr auto kSpinAfterReadAhead = std::chrono::microseconds(1000);
constexpr int kSpinsBeforeYield = 1 << 12;

inline void cpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

}  // namespace

ThreadPool::ThreadPool(int32_t numWorkers) : numWorkers_(numWorkers) {
  pthread_mutex_init(&mutex_, nullptr);
  pthread_cond_init(&wake_, nullptr);
}

ThreadPool* ThreadPool::create(int32_t numThreads) {
  if (numThreads < 1) numThreads = 1;
  if (numThreads > kMaxThreads) numThreads = kMaxThreads;
  ThreadPool* pool = new (std::nothrow) ThreadPool(numThreads - 1);
  if (!pool) return nullptr;
  if (pool->numWorkers_ == 0) return pool;
  pool->threads_ = static_cast<pthread_t*>(std::calloc(pool->numWorkers_, sizeof(pthread_t)));
  pool->starts_ = static_cast<WorkerStart*>(std::calloc(pool->numWorkers_, sizeof(WorkerStart)));
  if (!pool->threads_ || !pool->starts_) {
    delete pool;
    return nullptr;
  }
  for (int32_t i = 0; i < pool->numWorkers_; i++) {
    pool->starts_[i] = {pool, i};
    if (pthread_create(&pool->threads_[i], nullptr, &ThreadPool::workerMain, &pool->starts_[i]) != 0) {
      delete pool;  // stops and joins the ones that started
      return nullptr;
    }
    pool->numStarted_++;
  }
  return pool;
}

ThreadPool::~ThreadPool() {
  if (numStarted_ > 0) {
    isReadAheadStopped_.store(true);
    isStopping_.store(true);
    const uint64_t seq = (generation_.load() >> kSequenceShift) + 1;
    publish(seq << kSequenceShift);
    for (int32_t i = 0; i < numStarted_; i++) pthread_join(threads_[i], nullptr);
  }
  std::free(threads_);
  std::free(starts_);
  pthread_cond_destroy(&wake_);
  pthread_mutex_destroy(&mutex_);
}

void* ThreadPool::workerMain(void* arg) {
  const WorkerStart* start = static_cast<const WorkerStart*>(arg);
  start->pool->workerLoop(start->index);
  return nullptr;
}

void ThreadPool::publish(uint64_t word) {
  generation_.store(word);  // seq_cst
  if (numSleeping_.load() > 0) {
    // a worker that counted itself as sleeping re-checks generation_ under the mutex, so taking the
    // mutex here means it is either about to see the new value or already waiting on wake_
    pthread_mutex_lock(&mutex_);
    pthread_mutex_unlock(&mutex_);
    pthread_cond_broadcast(&wake_);
  }
}

void ThreadPool::workerLoop(int32_t index) {
  uint64_t seen = 0;
  auto spinLimit = kSpinBeforeSleep;
  for (;;) {
    uint64_t g = generation_.load(std::memory_order_acquire);
    if (g == seen || (g & kWriting)) {
      const auto spinStart = std::chrono::steady_clock::now();
      for (int i = 0;; i++) {
        g = generation_.load(std::memory_order_acquire);
        if (g != seen && !(g & kWriting)) break;
        cpuRelax();
        if ((i & 255) == 255 && std::chrono::steady_clock::now() - spinStart > spinLimit) {
          pthread_mutex_lock(&mutex_);
          numSleeping_.fetch_add(1);
          // sleep only while nothing new is published; a job being written is only a short spin
          while ((g = generation_.load()) == seen) pthread_cond_wait(&wake_, &mutex_);
          numSleeping_.fetch_sub(1);
          pthread_mutex_unlock(&mutex_);
          if (!(g & kWriting)) break;
        }
      }
    }
    seen = g;
    if (isStopping_.load()) return;
    if (index >= static_cast<int32_t>(g & 0xff)) continue;  // not needed for this job
    numDraining_.fetch_add(1);
    if (generation_.load() == g) {  // else: a newer job is being written; start over
      drain(index + 1);
      spinLimit = fn_ == readAheadTask ? kSpinAfterReadAhead : kSpinBeforeSleep;  // (the job stays until the line below)
    }
    numDraining_.fetch_sub(1, std::memory_order_release);
  }
}

void ThreadPool::drain(int32_t threadIndex) {
  const int64_t numTasks = numTasks_;
  for (;;) {
    const int64_t task = nextTask_.fetch_add(1, std::memory_order_relaxed);
    if (task >= numTasks) return;
    fn_(ctx_, task, threadIndex);
    numTasksDone_.fetch_add(1, std::memory_order_release);
  }
}

void ThreadPool::waitForDrainers() const {
  for (int i = 0; numDraining_.load() != 0; i++) {
    if (i < kSpinsBeforeYield) cpuRelax();
    else sched_yield();
  }
}

uint64_t ThreadPool::beginJob() {
  const uint64_t seq = (generation_.load(std::memory_order_relaxed) >> kSequenceShift) + 1;
  isReadAheadStopped_.store(true, std::memory_order_relaxed);
  generation_.store((generation_.load(std::memory_order_relaxed) & ~uint64_t{0xff}) | kWriting);  // seq_cst
  // a worker that woke up late for the previous job, or that reads ahead, may still be in drain()
  waitForDrainers();
  return seq;
}

void ThreadPool::publishJob(uint64_t seq, TaskFn fn, void* ctx, int64_t numTasks, int64_t numHelpers) {
  fn_ = fn;
  ctx_ = ctx;
  numTasks_ = numTasks;
  nextTask_.store(0, std::memory_order_relaxed);
  numTasksDone_.store(0, std::memory_order_relaxed);
  publish((seq << kSequenceShift) | static_cast<uint64_t>(numHelpers));
}

void ThreadPool::readAheadTask(void* ctx, int64_t, int32_t) {
  const ThreadPool* pool = static_cast<const ThreadPool*>(ctx);
  const uint8_t* data = pool->readAheadData_;
  // one load per cache line, a look at the stop flag every 4 KiB
  const auto read = [pool, data](int64_t begin, int64_t end) {
    for (int64_t page = begin; page < end; page += 4096) {
      if (pool->isReadAheadStopped_.load(std::memory_order_relaxed)) return false;
      const int64_t pageEnd = page + 4096 < end ? page + 4096 : end;
      for (int64_t i = page; i < pageEnd; i += 64) (void)*reinterpret_cast<const volatile uint8_t*>(data + i);
    }
    return true;
  };
  if (read(pool->readAheadStart_, pool->readAheadBytes_)) read(0, pool->readAheadStart_);
}

void ThreadPool::readAhead(const void* data, int64_t bytes, int64_t start) {
  if (numWorkers_ == 0 || bytes <= 0) return;
  const uint64_t seq = beginJob();
  isReadAheadStopped_.store(false, std::memory_order_relaxed);
  readAheadData_ = static_cast<const uint8_t*>(data);
  readAheadBytes_ = bytes;
  readAheadStart_ = start > 0 && start < bytes ? start : 0;
  publishJob(seq, readAheadTask, this, 1, 1);
}

void ThreadPool::stopReadAhead() {
  isReadAheadStopped_.store(true);  // seq_cst: a worker that enters drain() later sees it
  waitForDrainers();
}

void ThreadPool::run(int64_t numTasks, TaskFn fn, void* ctx, int32_t maxThreads) {
  int64_t numHelpers = numWorkers_;
  if (maxThreads - 1 < numHelpers) numHelpers = maxThreads - 1;
  if (numTasks - 1 < numHelpers) numHelpers = numTasks - 1;
  if (numHelpers <= 0) {
    for (int64_t t = 0; t < numTasks; t++) fn(ctx, t, 0);
    return;
  }
  publishJob(beginJob(), fn, ctx, numTasks, numHelpers);
  drain(0);
  for (int i = 0; numTasksDone_.load(std::memory_order_acquire) < numTasks; i++) {
    if (i < kSpinsBeforeYield) cpuRelax();
    else sched_yield();
  }
}

}  // namespace peregrine
