"""Shopify Admin REST 2024-10 representations of Orderdeck's records.

One place renders an order, a transaction, a fulfillment, … as Shopify's clients expect them
(product/SHOPIFY-REST.md): every key present, money as strings, MoneyBags for `*_set`, times
with the shop's offset. The API answers with these and webhook payloads are made of them.
"""
