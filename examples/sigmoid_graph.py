"""The book's figure 5-20: a sigmoid built from primitive nodes equals the fused layer.

x -> [× -1] -> [exp] -> [+ 1] -> [/] -> y, then backward right to left. Each node
multiplies the incoming gradient by its local derivative; the product collapses to
dout * y * (1 - y), which is what the fused Sigmoid layer computes in one step.
"""

import numpy as np

from chainrule import AddLayer, ExpLayer, MulLayer, ReciprocalLayer, Sigmoid

x = np.array([-2.0, -0.5, 0.0, 0.5, 2.0])
dout = np.ones_like(x)

# forward through the primitive nodes
mul_layer = MulLayer()  # × -1
exp_layer = ExpLayer()  # exp
add_layer = AddLayer()  # + 1
div_layer = ReciprocalLayer()  # 1 / x, the book's "/" node

a = mul_layer.forward(x, -1)
b = exp_layer.forward(a)
c = add_layer.forward(b, 1)
y = div_layer.forward(c)

# backward, step by step
dc = div_layer.backward(dout)  # -dout / c**2 = -dout * y**2
db, _ = add_layer.backward(dc)  # passes through
da = exp_layer.backward(db)  # * exp(a)
dx, _ = mul_layer.backward(da)  # * -1

fused = Sigmoid()
y_fused = fused.forward(x)
dx_fused = fused.backward(dout)

np.set_printoptions(precision=6, suppress=True)
print("x                  :", x)
print("y (primitive nodes):", y)
print("y (Sigmoid layer)  :", y_fused)
print("step gradients     : / ->", dc, " + ->", db, " exp ->", da, " x -1 ->", dx)
print("dx (primitive)     :", dx)
print("dx (Sigmoid layer) :", dx_fused)
print("dout * y * (1 - y) :", dout * y * (1 - y))
print("agree:", bool(np.allclose(dx, dx_fused) and np.allclose(y, y_fused)))
