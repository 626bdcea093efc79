"""The book's figure 5-17: apples and oranges with tax. Prints 715 and 110 2.2 3.3 165 650."""

from chainrule import AddLayer, MulLayer

apple = 100
apple_num = 2
orange = 150
orange_num = 3
tax = 1.1

# layers
mul_apple_layer = MulLayer()
mul_orange_layer = MulLayer()
add_apple_orange_layer = AddLayer()
mul_tax_layer = MulLayer()

# forward
apple_price = mul_apple_layer.forward(apple, apple_num)
orange_price = mul_orange_layer.forward(orange, orange_num)
all_price = add_apple_orange_layer.forward(apple_price, orange_price)
price = mul_tax_layer.forward(all_price, tax)

# backward
dprice = 1
dall_price, dtax = mul_tax_layer.backward(dprice)
dapple_price, dorange_price = add_apple_orange_layer.backward(dall_price)
dorange, dorange_num = mul_orange_layer.backward(dorange_price)
dapple, dapple_num = mul_apple_layer.backward(dapple_price)

print("price:", format(price, ".10g"))
print("dApple_num:", format(dapple_num, ".10g"))
print("dApple:", format(dapple, ".10g"))
print("dOrange:", format(dorange, ".10g"))
print("dOrange_num:", format(dorange_num, ".10g"))
print("dTax:", format(dtax, ".10g"))
