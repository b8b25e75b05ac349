// Sequential (libnn/modules/sequential.hpp).
#include "libnn/modules/sequential.hpp"

#include "core/check.hpp"

namespace nn {

Tensor Sequential::forward(const Tensor& x) const {
  NN_CHECK(!forwards_.empty(), "Sequential: expected at least one module, got an empty Sequential");
  Tensor out = forwards_.front()(x);
  for (std::size_t i = 1; i < forwards_.size(); ++i) out = forwards_[i](out);
  return out;
}

const std::shared_ptr<Module>& Sequential::operator[](std::size_t index) const {
  NN_CHECK(index < modules_.size(), "Sequential: expected an index below {}, got {}",
           modules_.size(), index);
  return modules_[index];
}

void Sequential::throw_wrong_type(std::size_t index) const {
  throw Error(fmt::format("Sequential::at({}): the module there is a {}, not the type asked for",
                          index, modules_[index]->name()));
}

}  // namespace nn
