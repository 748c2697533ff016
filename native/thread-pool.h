// A persistent pool of worker threads, created once per native context.
//
// `run` deals task indices [0, numTasks) out to the calling thread and the workers through one
// atomic counter and returns as soon as every task is done, so a worker that the OS has not
// scheduled yet never holds the caller up (the caller simply takes more tasks). Between jobs,
// workers spin briefly (the back-to-back kernels of a forward pass do not pay a wake-up; after a
// read ahead, through the gap between two decode steps) and then sleep on a condition variable.
// Nothing is allocated per job.
#pragma once

#include <pthread.h>

#include <atomic>
#include <cstdint>

namespace peregrine {

class ThreadPool {
 public:
  using TaskFn = void (*)(void* ctx, int64_t task, int32_t threadIndex);
  static constexpr int32_t kMaxThreads = 256;

  /** Starts numThreads - 1 workers (the caller is thread 0; at most kMaxThreads). Returns nullptr if a thread fails to start. */
  static ThreadPool* create(int32_t numThreads);
  ~ThreadPool();

  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int32_t numThreads() const { return numWorkers_ + 1; }

  /** Runs fn(ctx, task, threadIndex) for every task; uses at most maxThreads threads. */
  void run(int64_t numTasks, TaskFn fn, void* ctx, int32_t maxThreads);

  /**
   * Has one worker read [data + start, data + bytes), then [data, data + start), into the caches
   * while the caller goes on (with no workers: nothing). The next run() or readAhead() stops it
   * where it is; the memory must stay mapped until then.
   */
  void readAhead(const void* data, int64_t bytes, int64_t start);
  /** Stops a readAhead and returns once nothing reads its memory any more. */
  void stopReadAhead();

 private:
  explicit ThreadPool(int32_t numWorkers);
  static void* workerMain(void* arg);
  void workerLoop(int32_t index);
  void drain(int32_t threadIndex);
  void publish(uint64_t word);
  /** Stops a read ahead, marks the job being written and waits until no worker is in drain(); returns the next job's sequence. */
  uint64_t beginJob();
  /** Publishes the job (after beginJob()) to numHelpers workers. */
  void publishJob(uint64_t seq, TaskFn fn, void* ctx, int64_t numTasks, int64_t numHelpers);
  void waitForDrainers() const;
  static void readAheadTask(void* ctx, int64_t task, int32_t threadIndex);

  struct WorkerStart {
    ThreadPool* pool;
    int32_t index;
  };

  // generation_ = (job sequence << 9) | kWriting? | number of workers allowed to join (8 bits).
  // The caller sets kWriting, waits until no worker is inside drain(), rewrites the job fields,
  // then publishes the next sequence. A worker enters drain() only after announcing itself in
  // numDraining_ and re-reading an unchanged, published generation_ (Dekker-style, seq_cst), so
  // it never reads a half-written job.
  static constexpr uint64_t kWriting = 1u << 8;
  static constexpr int kSequenceShift = 9;

  const int32_t numWorkers_;
  pthread_t* threads_ = nullptr;
  WorkerStart* starts_ = nullptr;
  int32_t numStarted_ = 0;

  // The current job; written by the caller only while kWriting is set and no worker drains.
  TaskFn fn_ = nullptr;
  void* ctx_ = nullptr;
  int64_t numTasks_ = 0;

  alignas(64) std::atomic<uint64_t> generation_{0};
  alignas(64) std::atomic<int64_t> nextTask_{0};
  alignas(64) std::atomic<int64_t> numTasksDone_{0};
  alignas(64) std::atomic<int32_t> numDraining_{0};
  alignas(64) std::atomic<int32_t> numSleeping_{0};
  std::atomic<bool> isStopping_{false};
  // readAhead's job: its range, and the flag that stops it early
  const uint8_t* readAheadData_ = nullptr;
  int64_t readAheadBytes_ = 0;
  int64_t readAheadStart_ = 0;
  alignas(64) std::atomic<bool> isReadAheadStopped_{false};

  pthread_mutex_t mutex_;
  pthread_cond_t wake_;
};

}  // namespace peregrine
