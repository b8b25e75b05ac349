// The whole public API of libnn in one include: #include <libnn/libnn.hpp>.
//
// Tensors and autograd, the functional ops, the seeded RNG, modules and their
// initializations, optimizers and schedules, and checkpoint I/O (safetensors, the
// training-state file). Including the individual headers instead compiles faster.
#pragma once

#include "libnn/autograd.hpp"
#include "libnn/checkpoint.hpp"
#include "libnn/cpu/gemm.hpp"
#include "libnn/cpu/memory.hpp"
#include "libnn/cuda.hpp"
#include "libnn/dtype.hpp"
#include "libnn/error.hpp"
#include "libnn/init.hpp"
#include "libnn/io/atomic_file.hpp"
#include "libnn/io/checksum.hpp"
#include "libnn/io/safetensors.hpp"
#include "libnn/io/state_file.hpp"
#include "libnn/io/summary_writer.hpp"
#include "libnn/module.hpp"
#include "libnn/modules/activation.hpp"
#include "libnn/modules/batchnorm.hpp"
#include "libnn/modules/conv.hpp"
#include "libnn/modules/dropout.hpp"
#include "libnn/modules/embedding.hpp"
#include "libnn/modules/linear.hpp"
#include "libnn/modules/lstm.hpp"
#include "libnn/modules/lstm_stepper.hpp"
#include "libnn/modules/normalization.hpp"
#include "libnn/modules/sequential.hpp"
#include "libnn/ops.hpp"
#include "libnn/optim.hpp"
#include "libnn/random.hpp"
#include "libnn/shape.hpp"
#include "libnn/tensor.hpp"
#include "libnn/threads.hpp"
