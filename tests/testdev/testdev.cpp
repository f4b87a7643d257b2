// testdev: a deliberately small PyTorch PrivateUse1 backend for accelbench's tests.
//
// It behaves like a young out-of-tree accelerator package: it registers a
// device (renamed `testdev` from Python), allocates its memory (host memory
// behind the scenes, counted), copies to and from the CPU, and implements a
// partial set of kernels: add, mul, mm, sum, amax, fill_/zero_, equal and the
// view/resize plumbing. Kernels compute synchronously on the host memory by
// viewing it as CPU tensors. Every other operator reaches the boxed fallback,
// which raises NotImplementedError with the backend's own reason.
//
// One kernel crashes on purpose: mul on a float32 tensor whose first element
// is kCrashMagic raises SIGSEGV inside the kernel, so tests can check that a
// crash inside a backend's kernel is isolated like any other.

#include <ATen/EmptyTensor.h>
#include <ATen/core/Tensor.h>
#include <ATen/detail/PrivateUse1HooksInterface.h>
#include <ATen/native/Resize.h>
#include <ATen/ops/add.h>
#include <ATen/ops/amax.h>
#include <ATen/ops/as_strided_native.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/equal.h>
#include <ATen/ops/from_blob.h>
#include <ATen/ops/mm.h>
#include <ATen/ops/mul.h>
#include <ATen/ops/sum.h>
#include <ATen/ops/view_native.h>
#include <ATen/ops/_reshape_alias_native.h>
#include <c10/core/Allocator.h>
#include <c10/core/DeviceGuard.h>
#include <c10/core/impl/DeviceGuardImplInterface.h>
#include <torch/library.h>

#include <atomic>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <string>

namespace testdev {

constexpr float kCrashMagic = -7777.0f;
constexpr c10::DeviceType kDev = c10::DeviceType::PrivateUse1;

thread_local c10::DeviceIndex current_index = 0;
std::atomic<int64_t> allocated_bytes{0};

c10::DeviceIndex device_count_value() {
  const char* env = std::getenv("TESTDEV_DEVICES");
  int n = env ? std::atoi(env) : 2;
  return static_cast<c10::DeviceIndex>(n < 0 ? 0 : n);
}

// ------------------------------------------------------------------ memory
struct Block {
  size_t bytes;
};

void release(void* ctx) {
  auto* block = static_cast<Block*>(ctx);  // header and data are one malloc
  allocated_bytes -= static_cast<int64_t>(block->bytes);
  std::free(block);
}

struct Allocator final : c10::Allocator {
  c10::DataPtr allocate(size_t n) override {
    c10::Device device(kDev, current_index);
    // One malloc: a 64-byte header (keeps the data aligned) followed by the data.
    void* raw = std::malloc(n + 64);
    TORCH_CHECK(raw != nullptr, "testdev: out of memory allocating ", n, " bytes");
    auto* block = static_cast<Block*>(raw);
    block->bytes = n;
    allocated_bytes += static_cast<int64_t>(n);
    void* data = static_cast<char*>(raw) + 64;
    return {data, raw, &release, device};
  }
  void copy_data(void* dest, const void* src, std::size_t count) const override {
    std::memcpy(dest, src, count);
  }
};

Allocator allocator;
REGISTER_ALLOCATOR(kDev, &allocator);

// ------------------------------------------------------------ device guard
struct Guard final : c10::impl::DeviceGuardImplInterface {
  c10::DeviceType type() const override { return kDev; }
  c10::Device exchangeDevice(c10::Device d) const override {
    auto old = getDevice();
    if (d.index() >= 0) current_index = d.index();
    return old;
  }
  c10::Device getDevice() const override { return {kDev, current_index}; }
  void setDevice(c10::Device d) const override {
    TORCH_CHECK(d.index() < device_count_value(), "testdev: no device ", int(d.index()));
    if (d.index() >= 0) current_index = d.index();
  }
  void uncheckedSetDevice(c10::Device d) const noexcept override {
    if (d.index() >= 0) current_index = d.index();
  }
  c10::Stream getStream(c10::Device d) const override {
    return c10::Stream(c10::Stream::DEFAULT, d);
  }
  c10::Stream exchangeStream(c10::Stream s) const override {
    return c10::Stream(c10::Stream::DEFAULT, s.device());
  }
  c10::DeviceIndex deviceCount() const noexcept override { return device_count_value(); }
  void synchronizeDevice(const c10::DeviceIndex) const override {}
};

C10_REGISTER_GUARD_IMPL(PrivateUse1, Guard);

struct Hooks final : at::PrivateUse1HooksInterface {
  bool isBuilt() const override { return true; }
  bool isAvailable() const override { return device_count_value() > 0; }
  bool hasPrimaryContext(c10::DeviceIndex) const override { return true; }
  at::Device getDeviceFromPtr(void*) const override { return {kDev, current_index}; }
  void resizePrivateUse1Bytes(const c10::Storage& storage, size_t newsize) const override {
    at::native::resize_bytes_nocuda(storage, c10::SymInt(static_cast<int64_t>(newsize)));
  }
};

struct RegisterHooks {
  RegisterHooks() { at::RegisterPrivateUse1HooksInterface(new Hooks()); }
};
RegisterHooks register_hooks;

// ---------------------------------------------------------------- helpers
bool on_dev(const at::Tensor& t) { return t.defined() && t.device().type() == kDev; }

// The same memory seen as a CPU tensor (kernels compute on the host).
at::Tensor host(const at::Tensor& t) {
  if (!on_dev(t)) return t;
  return at::from_blob(t.data_ptr(), t.sizes(), t.strides(), [](void*) {},
                       t.options().device(at::kCPU));
}

// A new device tensor holding the CPU result ``cpu`` (on ``device``).
at::Tensor new_like_device(const at::Tensor& cpu, c10::Device device) {
  c10::DeviceGuard guard(device);
  at::Tensor result = at::detail::empty_generic(
      cpu.sizes(), &allocator, c10::DispatchKeySet(c10::DispatchKey::PrivateUse1),
      cpu.scalar_type(), c10::MemoryFormat::Contiguous);
  host(result).copy_(cpu);
  return result;
}

c10::Device device_of(const at::Tensor& a, const at::Tensor& b) {
  return on_dev(a) ? a.device() : b.device();
}

void check_float(const at::Tensor& t, const char* op) {
  auto s = t.scalar_type();
  TORCH_CHECK_NOT_IMPLEMENTED(s == at::kFloat || s == at::kDouble,
                              "testdev: ", op, " is implemented for float32 and float64 only, not ",
                              c10::toString(s));
}

void maybe_crash(const at::Tensor& self) {
  if (self.scalar_type() == at::kFloat && self.numel() > 0 && self.is_contiguous() &&
      *static_cast<const float*>(self.data_ptr()) == kCrashMagic) {
    std::raise(SIGSEGV);  // the injected crash inside a kernel
  }
}

// ------------------------------------------------------------ allocation ops
at::Tensor empty_memory_format(c10::IntArrayRef size, std::optional<at::ScalarType> dtype,
                               std::optional<at::Layout>, std::optional<at::Device> device,
                               std::optional<bool>, std::optional<at::MemoryFormat> memory_format) {
  c10::OptionalDeviceGuard guard(device);
  return at::detail::empty_generic(size, &allocator, c10::DispatchKeySet(c10::DispatchKey::PrivateUse1),
                                   c10::dtype_or_default(dtype),
                                   memory_format.value_or(at::MemoryFormat::Contiguous));
}

at::Tensor empty_strided(c10::IntArrayRef size, c10::IntArrayRef stride,
                         std::optional<at::ScalarType> dtype, std::optional<at::Layout>,
                         std::optional<at::Device> device, std::optional<bool>) {
  c10::OptionalDeviceGuard guard(device);
  return at::detail::empty_strided_generic(size, stride, &allocator,
                                           c10::DispatchKeySet(c10::DispatchKey::PrivateUse1),
                                           c10::dtype_or_default(dtype));
}

const at::Tensor& resize_(const at::Tensor& self, c10::SymIntArrayRef size,
                          std::optional<at::MemoryFormat>) {
  at::native::resize_impl_cpu_(self.unsafeGetTensorImpl(), C10_AS_INTARRAYREF_SLOW(size),
                               std::nullopt);
  return self;
}

at::Tensor copy_from(const at::Tensor& self, const at::Tensor& dst, bool) {
  host(dst).copy_(host(self));
  return dst;
}

at::Tensor copy_from_and_resize(const at::Tensor& self, const at::Tensor& dst) {
  if (dst.sizes() != self.sizes()) {
    at::native::resize_impl_cpu_(dst.unsafeGetTensorImpl(), self.sizes(), std::nullopt);
  }
  return copy_from(self, dst, false);
}

at::Scalar local_scalar_dense(const at::Tensor& self) { return host(self).item(); }

at::Tensor& set_source_storage(at::Tensor& self, c10::Storage source, int64_t offset,
                               c10::IntArrayRef size, c10::IntArrayRef stride) {
  at::native::checkSetStorage(self, source, offset, size, stride);
  self.unsafeGetTensorImpl()->set_storage_offset(offset);
  at::native::resize_impl_cpu_(self.unsafeGetTensorImpl(), size,
                               stride.data() != nullptr ? at::OptionalIntArrayRef(stride)
                                                        : std::nullopt,
                               false);
  return self;
}

// ------------------------------------------------------------------ kernels
at::Tensor add(const at::Tensor& self, const at::Tensor& other, const at::Scalar& alpha) {
  return new_like_device(at::add(host(self), host(other), alpha), device_of(self, other));
}

at::Tensor& add_out(const at::Tensor& self, const at::Tensor& other, const at::Scalar& alpha,
                    at::Tensor& out) {
  auto r = at::add(host(self), host(other), alpha);
  at::native::resize_output(out, r.sizes());
  host(out).copy_(r);
  return out;
}

at::Tensor& add_(at::Tensor& self, const at::Tensor& other, const at::Scalar& alpha) {
  host(self).add_(host(other), alpha);
  return self;
}

at::Tensor mul(const at::Tensor& self, const at::Tensor& other) {
  maybe_crash(self);
  return new_like_device(at::mul(host(self), host(other)), device_of(self, other));
}

at::Tensor& mul_out(const at::Tensor& self, const at::Tensor& other, at::Tensor& out) {
  maybe_crash(self);
  auto r = at::mul(host(self), host(other));
  at::native::resize_output(out, r.sizes());
  host(out).copy_(r);
  return out;
}

at::Tensor& mul_(at::Tensor& self, const at::Tensor& other) {
  maybe_crash(self);
  host(self).mul_(host(other));
  return self;
}

at::Tensor mm(const at::Tensor& self, const at::Tensor& mat2) {
  check_float(self, "mm");
  return new_like_device(at::mm(host(self), host(mat2)), self.device());
}

at::Tensor& mm_out(const at::Tensor& self, const at::Tensor& mat2, at::Tensor& out) {
  check_float(self, "mm");
  at::native::resize_output(out, {self.size(0), mat2.size(1)});
  auto h = host(out);
  at::mm_out(h, host(self), host(mat2));
  return out;
}

at::Tensor sum(const at::Tensor& self, std::optional<at::ScalarType> dtype) {
  return new_like_device(at::sum(host(self), dtype), self.device());
}

at::Tensor sum_dim(const at::Tensor& self, at::OptionalIntArrayRef dim, bool keepdim,
                   std::optional<at::ScalarType> dtype) {
  return new_like_device(at::sum(host(self), dim, keepdim, dtype), self.device());
}

at::Tensor amax(const at::Tensor& self, c10::IntArrayRef dim, bool keepdim) {
  return new_like_device(at::amax(host(self), dim, keepdim), self.device());
}

at::Tensor& fill_(at::Tensor& self, const at::Scalar& value) {
  host(self).fill_(value);
  return self;
}

at::Tensor& zero_(at::Tensor& self) {
  host(self).zero_();
  return self;
}

bool equal(const at::Tensor& self, const at::Tensor& other) {
  return at::equal(host(self), host(other));
}

// ------------------------------------------------------------------ fallback
void not_implemented(const c10::OperatorHandle& op, torch::jit::Stack*) {
  TORCH_CHECK_NOT_IMPLEMENTED(false, "testdev: ", op.schema().operator_name(),
                              " is not implemented on this backend yet");
}

int64_t device_count() { return device_count_value(); }
int64_t memory_allocated() { return allocated_bytes.load(); }
int64_t crash_magic_bits() {
  float f = kCrashMagic;
  int32_t bits;
  std::memcpy(&bits, &f, sizeof bits);
  return bits;
}

}  // namespace testdev

TORCH_LIBRARY_IMPL(aten, PrivateUse1, m) {
  using namespace testdev;
  m.impl("empty.memory_format", empty_memory_format);
  m.impl("empty_strided", empty_strided);
  m.impl("as_strided", at::native::as_strided_tensorimpl);
  m.impl("view", at::native::view);
  m.impl("_reshape_alias", at::native::_reshape_alias);
  m.impl("resize_", resize_);
  m.impl("_copy_from", copy_from);
  m.impl("_copy_from_and_resize", copy_from_and_resize);
  m.impl("_local_scalar_dense", local_scalar_dense);
  m.impl("set_.source_Storage_storage_offset", set_source_storage);
  m.impl("add.Tensor", add);
  m.impl("add.out", add_out);
  m.impl("add_.Tensor", add_);
  m.impl("mul.Tensor", mul);
  m.impl("mul.out", mul_out);
  m.impl("mul_.Tensor", mul_);
  m.impl("mm", mm);
  m.impl("mm.out", mm_out);
  m.impl("sum", sum);
  m.impl("sum.dim_IntList", sum_dim);
  m.impl("amax", amax);
  m.impl("fill_.Scalar", fill_);
  m.impl("zero_", zero_);
  m.impl("equal", equal);
}

TORCH_LIBRARY_IMPL(_, PrivateUse1, m) {
  m.fallback(torch::CppFunction::makeFromBoxedFunction<&testdev::not_implemented>());
}

TORCH_LIBRARY(testdev, m) {
  m.def("device_count() -> int", &testdev::device_count);
  m.def("memory_allocated() -> int", &testdev::memory_allocated);
  m.def("crash_magic_bits() -> int", &testdev::crash_magic_bits);
}
