# NN_CUDA=AUTO|ON|OFF: whether libnn gets its CUDA backend (libnn/src/cuda/).
#   AUTO (default)  on when nvcc and the CUDA toolkit (runtime, cuBLAS) are found
#   ON              the same, but a missing toolkit is a configure error
#   OFF             CPU only; nn::cuda::is_available() is false
# Included from the top-level CMakeLists.txt, before add_subdirectory(libnn): CMake wants a
# language enabled in the highest directory common to every target that links its objects
# (the tests and the command line link libnn). Sets LIBNN_WITH_CUDA (ON/OFF).
#
# Code is built for sm_80 (A100) and sm_90 (H100, H200) unless CMAKE_CUDA_ARCHITECTURES says
# otherwise; sm_90 also carries PTX, which newer GPUs compile at load time.
set(NN_CUDA AUTO CACHE STRING "Build libnn's CUDA backend: AUTO (when nvcc is found), ON or OFF")
set_property(CACHE NN_CUDA PROPERTY STRINGS AUTO ON OFF)

set(LIBNN_WITH_CUDA OFF)
string(TOUPPER "${NN_CUDA}" nn_cuda_mode)
if(NOT nn_cuda_mode MATCHES "^(AUTO|ON|OFF)$")
  message(FATAL_ERROR "NN_CUDA must be AUTO, ON or OFF, got '${NN_CUDA}'")
endif()

if(NOT nn_cuda_mode STREQUAL "OFF")
  # The toolkit's usual home too, not only PATH: a non-login shell (CI, cron) may not have
  # /usr/local/cuda/bin on its PATH.
  if(NOT DEFINED CMAKE_CUDA_COMPILER AND NOT DEFINED ENV{CUDACXX})
    find_program(NN_NVCC nvcc HINTS ENV CUDA_HOME ENV CUDA_PATH PATH_SUFFIXES bin
                 PATHS /usr/local/cuda/bin)
    if(NN_NVCC)
      set(ENV{CUDACXX} "${NN_NVCC}")
    endif()
  endif()
  include(CheckLanguage)
  check_language(CUDA)
  if(CMAKE_CUDA_COMPILER)
    if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES)
      set(CMAKE_CUDA_ARCHITECTURES 80-real 90)
    endif()
    enable_language(CUDA)
    find_package(CUDAToolkit)
    # CMake 3.25 does not know that nvcc 12+ takes -std=c++20, and libnn's C++20 requirement
    # (cxx_std_20) applies to its .cu files too: tell it.
    if(NOT CMAKE_CUDA20_STANDARD_COMPILE_OPTION)
      set(CMAKE_CUDA20_STANDARD_COMPILE_OPTION "-std=c++20")
      set(CMAKE_CUDA20_EXTENSION_COMPILE_OPTION "-std=c++20")
      list(APPEND CMAKE_CUDA_COMPILE_FEATURES cuda_std_20)
    endif()
  endif()
  if(CMAKE_CUDA_COMPILER AND CUDAToolkit_FOUND AND TARGET CUDA::cublas)
    set(LIBNN_WITH_CUDA ON)
    message(STATUS "libnn: CUDA backend ON (nvcc ${CMAKE_CUDA_COMPILER_VERSION}, "
                   "architectures ${CMAKE_CUDA_ARCHITECTURES}; NN_CUDA=${NN_CUDA})")
  elseif(nn_cuda_mode STREQUAL "ON")
    message(FATAL_ERROR "NN_CUDA=ON but no CUDA compiler or toolkit with cuBLAS was found "
                        "(nvcc on PATH, or -DCMAKE_CUDA_COMPILER=/usr/local/cuda/bin/nvcc)")
  else()
    message(STATUS "libnn: CUDA backend OFF (no nvcc or CUDA toolkit found; NN_CUDA=AUTO)")
  endif()
else()
  message(STATUS "libnn: CUDA backend OFF (NN_CUDA=OFF)")
endif()
