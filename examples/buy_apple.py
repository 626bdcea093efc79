"""The book's figure 5-16: two apples at 100 yen each, 10% tax. Prints 220 and 2.2 110 200."""

from chainrule import MulLayer

apple = 100
apple_num = 2
tax = 1.1

mul_apple_layer = MulLayer()
mul_tax_layer = MulLayer()

# forward
apple_price = mul_apple_layer.forward(apple, apple_num)
price = mul_tax_layer.forward(apple_price, tax)

# backward
dprice = 1
dapple_price, dtax = mul_tax_layer.backward(dprice)
dapple, dapple_num = mul_apple_layer.backward(dapple_price)

print("price:", format(price, ".10g"))
print("dApple:", format(dapple, ".10g"))
print("dApple_num:", format(dapple_num, ".10g"))
print("dTax:", format(dtax, ".10g"))
