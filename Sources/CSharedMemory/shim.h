// Atomic 64-bit counters in memory shared between worker processes (GatewayMetrics): Swift's
// own atomics live at addresses Swift allocates, these work on any aligned slot of an mmap.
#ifndef GATEWAY_SHARED_MEMORY_SHIM_H
#define GATEWAY_SHARED_MEMORY_SHIM_H
#include <stdint.h>
#include <sys/mman.h>

static inline void gateway_shared_add(int64_t *slot, int64_t value) {
    __atomic_fetch_add(slot, value, __ATOMIC_RELAXED);
}

static inline int64_t gateway_shared_load(const int64_t *slot) {
    return __atomic_load_n(slot, __ATOMIC_RELAXED);
}

static inline void gateway_shared_store(int64_t *slot, int64_t value) {
    __atomic_store_n(slot, value, __ATOMIC_RELAXED);
}

static inline int gateway_memfd_create(const char *name) {
    return memfd_create(name, 0);  // no MFD_CLOEXEC: the supervisor's children inherit it
}
#endif
