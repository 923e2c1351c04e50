"""Deterministic VTEX order documents with the full Get-order shape and totals that add up.

Order number `n` under seed `s` is always the same document (apart from the dates, which follow
the sandbox clock), whatever else was generated before it.
"""

from __future__ import annotations

import random
import uuid
from typing import Any

from orderbridge.sandbox.clock import iso_offset

_CATALOG: list[tuple[str, str, str, int]] = [
    # (sku id, product id, name, price in cents)
    ("1001", "501", "Camiseta Basica Algodao Azul M", 4990),
    ("1002", "501", "Camiseta Basica Algodao Preta G", 4990),
    ("1003", "502", "Tenis Corrida Leve 42", 29990),
    ("1004", "503", "Mochila Urbana 20L", 15900),
    ("1005", "504", "Garrafa Termica 750ml", 8990),
    ("1006", "505", "Fone Bluetooth Sem Fio", 19900),
    ("1007", "506", "Cafeteira Eletrica 15 Xicaras", 12990),
    ("1008", "507", "Livro Receitas Brasileiras", 5990),
    ("1009", "508", "Luminaria de Mesa LED", 9990),
    ("1010", "509", "Kit Toalhas Banho 4 Pecas", 11990),
]
_FIRST = ["Ana", "Bruno", "Carla", "Diego", "Elisa", "Fabio", "Gabriela", "Hugo", "Iris", "Joao"]
_LAST = ["Silva", "Souza", "Oliveira", "Santos", "Pereira", "Lima", "Costa", "Almeida"]
_CITIES = [
    ("Sao Paulo", "SP", "01310-100"),
    ("Rio de Janeiro", "RJ", "22630-011"),
    ("Belo Horizonte", "MG", "30130-010"),
    ("Curitiba", "PR", "80010-000"),
]
_SLAS = [("Normal", "4bd", 1290), ("Expressa", "1bd", 2490)]


def order_id_for(seed: int, counter: int) -> str:
    """A unique 13-digit order number per (seed, counter), with VTEX's `-01` seller suffix."""
    number = ((counter + seed * 7919) * 1_000_003) % 9_000_000_000_000 + 1_000_000_000_000
    return f"{number}-01"


def _uid(rng: random.Random) -> str:
    return uuid.UUID(int=rng.getrandbits(128), version=4).hex.upper()


def _items(rng: random.Random, seller: str, order_group: str) -> list[dict[str, Any]]:
    picks = rng.sample(_CATALOG, rng.randint(1, 3))
    return [
        _item(rng, sku, product, name, price, rng.randint(1, 3), seller, order_group)
        for sku, product, name, price in picks
    ]


def _item(
    rng: random.Random,
    sku: str,
    product: str,
    name: str,
    price: int,
    quantity: int,
    seller: str,
    order_group: str,
) -> dict[str, Any]:
    return {
        "uniqueId": _uid(rng),
        "id": sku,
        "productId": product,
        "ean": f"789{int(sku):010d}",
        "lockId": f"00-{order_group}-01",
        "itemAttachment": {"content": {}, "name": None},
        "attachments": [],
        "quantity": quantity,
        "seller": seller,
        "name": name,
        "refId": f"REF{sku}",
        "price": price,
        "listPrice": price + price // 10,
        "manualPrice": None,
        "priceTags": [],
        "imageUrl": f"https://sandbox.vteximg.com.br/arquivos/ids/{sku}-55-55/{sku}.jpg",
        "detailUrl": f"/produto-{product}/p",
        "components": [],
        "bundleItems": [],
        "params": [],
        "offerings": [],
        "attachmentOfferings": [],
        "sellerSku": sku,
        "priceValidUntil": None,
        "commission": 0,
        "tax": 0,
        "preSaleDate": None,
        "additionalInfo": {
            "brandName": "Marca Sandbox",
            "brandId": "2000000",
            "categoriesIds": "/1/2/",
            "categories": [{"id": 2, "name": "Geral"}],
            "productClusterId": "135",
            "commercialConditionId": "1",
            "dimension": {"cubicweight": 1.0, "height": 10, "length": 10, "weight": 500, "width": 10},
            "offeringInfo": None,
            "offeringType": None,
            "offeringTypeId": None,
        },
        "measurementUnit": "un",
        "unitMultiplier": 1,
        "sellingPrice": price,
        "isGift": False,
        "shippingPrice": None,
        "rewardValue": 0,
        "freightCommission": 0,
        "priceDefinition": {
            "sellingPrices": [{"value": price, "quantity": quantity}],
            "calculatedSellingPrice": price,
            "total": price * quantity,
            "reason": None,
        },
        "taxCode": None,
        "parentItemIndex": None,
        "parentAssemblyBinding": None,
        "callCenterOperator": None,
        "serialNumbers": None,
        "assemblies": [],
        "costPrice": price // 2,
    }


def catalog_item(
    sku: str, quantity: int, price: int | None, seller: str, order_group: str, rng: random.Random
) -> dict[str, Any] | None:
    """An order line for a catalog SKU (used when a change adds an item the order did not have)."""
    for cat_sku, product, name, cat_price in _CATALOG:
        if cat_sku == sku:
            unit = cat_price if price is None else price
            return _item(rng, sku, product, name, unit, quantity, seller, order_group)
    if price is None:
        return None
    return _item(rng, sku, "999", f"Item {sku}", price, quantity, seller, order_group)


def _no_pickup_store() -> dict[str, Any]:
    """Home delivery: VTEX still sends the pickup-store block, all empty (a fresh dict per use)."""
    return {
        "additionalInfo": None,
        "address": None,
        "dockId": None,
        "friendlyName": None,
        "isPickupStore": False,
    }


def _logistics(
    items: list[dict[str, Any]], sla: tuple[str, str, int], created: float
) -> list[dict[str, Any]]:
    name, estimate, total_price = sla
    per_item = total_price // len(items)
    prices = [per_item] * len(items)
    prices[0] += total_price - per_item * len(items)
    slas = [
        {
            "id": n,
            "name": n,
            "shippingEstimate": e,
            "deliveryWindow": None,
            "price": p,
            "deliveryChannel": "delivery",
            "pickupStoreInfo": _no_pickup_store(),
            "polygonName": "",
            "lockTTL": "10d",
            "pickupPointId": "",
            "transitTime": e,
            "pickupDistance": 0.0,
        }
        for n, e, p in _SLAS
    ]
    return [
        {
            "itemIndex": i,
            "selectedSla": name,
            "lockTTL": "10d",
            "price": prices[i],
            "listPrice": prices[i],
            "sellingPrice": prices[i],
            "deliveryWindow": None,
            "deliveryCompany": "Transportadora Sandbox",
            "shippingEstimate": estimate,
            "shippingEstimateDate": iso_offset(created + 5 * 86400),
            "slas": slas,
            "shipsTo": ["BRA"],
            "deliveryIds": [
                {
                    "courierId": "1",
                    "courierName": "Transportadora Sandbox",
                    "dockId": "1",
                    "quantity": item["quantity"],
                    "warehouseId": "1_1",
                    "accountCarrierName": "",
                    "kitItemDetails": [],
                }
            ],
            "deliveryChannels": [{"id": "delivery", "stockBalance": 0}],
            "deliveryChannel": "delivery",
            "pickupStoreInfo": _no_pickup_store(),
            "addressId": "home",
            "versionId": None,
            "entityId": None,
            "polygonName": None,
            "pickupPointId": None,
            "transitTime": estimate,
        }
        for i, item in enumerate(items)
    ]


def totals_for(
    items: list[dict[str, Any]], discounts: int, shipping: int, change: int
) -> list[dict[str, Any]]:
    """The totals block; `value` is always the sum of these (Discounts negative)."""
    totals = [
        {"id": "Items", "name": "Total dos Itens", "value": sum(i["price"] * i["quantity"] for i in items)},
        {"id": "Discounts", "name": "Total dos Descontos", "value": -discounts},
        {"id": "Shipping", "name": "Total do Frete", "value": shipping},
        {"id": "Tax", "name": "Total da Taxa", "value": 0},
    ]
    if change:
        totals.append({"id": "Change", "name": "Total das Alterações", "value": change})
    return totals


def generate_order(seed: int, counter: int, account: str, status: str, created: float) -> dict[str, Any]:
    """Order number `counter` of this seed, in `status`, created at sandbox time `created`."""
    rng = random.Random(f"{seed}:{counter}")
    order_id = order_id_for(seed, counter)
    order_group = order_id[:-3]
    items = _items(rng, "1", order_group)
    sla = _SLAS[rng.randrange(len(_SLAS))]
    item_sum = sum(i["price"] * i["quantity"] for i in items)
    discounts = (item_sum * rng.choice([0, 0, 5, 10])) // 100
    totals = totals_for(items, discounts, sla[2], 0)
    value = sum(t["value"] for t in totals)
    first, last = rng.choice(_FIRST), rng.choice(_LAST)
    city, state, postal = rng.choice(_CITIES)
    email = f"{rng.getrandbits(64):016x}@ct.vtex.com.br"
    doc: dict[str, Any] = {
        "orderId": order_id,
        "sequence": str(500000 + counter),
        "marketplaceOrderId": "",
        "marketplaceServicesEndpoint": f"http://oms.vtexinternal.com.br/api/oms?an={account}",
        "sellerOrderId": f"00-{order_id}",
        "origin": "Marketplace",
        "affiliateId": "",
        "salesChannel": "1",
        "merchantName": None,
        "status": status,
        "workflowIsInError": False,
        "statusDescription": status,
        "value": value,
        "creationDate": iso_offset(created),
        "lastChange": iso_offset(created),
        "orderGroup": order_group,
        "followUpEmail": email,
        "lastMessage": None,
        "hostname": account,
        "isCompleted": True,
        "roundingError": 0,
        "orderFormId": _uid(rng).lower(),
        "allowCancellation": True,
        "allowEdition": False,
        "isCheckedIn": False,
        "authorizedDate": iso_offset(created),
        "invoicedDate": None,
        "cancelReason": None,
        "checkedInPickupPointId": None,
        "totals": totals,
        "sellers": [
            {
                "id": "1",
                "name": account,
                "logo": "",
                "fulfillmentEndpoint": f"http://fulfillment.vtexcommerce.com.br/api/fulfillment?an={account}",
            }
        ],
        "clientPreferencesData": {"locale": "pt-BR", "optinNewsLetter": False},
        "cancellationData": None,
        "cancellationRequests": None,
        "taxData": None,
        "subscriptionData": None,
        "itemMetadata": {
            "Items": [
                {
                    "Id": i["id"],
                    "Seller": "1",
                    "Name": i["name"],
                    "SkuName": i["name"],
                    "ProductId": i["productId"],
                    "RefId": i["refId"],
                    "Ean": i["ean"],
                    "ImageUrl": i["imageUrl"],
                    "DetailUrl": i["detailUrl"],
                    "AssemblyOptions": [],
                }
                for i in items
            ]
        },
        "marketplace": {
            "baseURL": f"http://oms.vtexinternal.com.br/api/oms?an={account}",
            "isCertified": None,
            "name": account,
        },
        "storePreferencesData": {
            "countryCode": "BRA",
            "currencyCode": "BRL",
            "currencyFormatInfo": {
                "CurrencyDecimalDigits": 2,
                "CurrencyDecimalSeparator": ",",
                "CurrencyGroupSeparator": ".",
                "CurrencyGroupSize": 3,
                "StartsWithCurrencySymbol": True,
            },
            "currencyLocale": 1046,
            "currencySymbol": "R$",
            "timeZone": "E. South America Standard Time",
        },
        "customData": None,
        "commercialConditionData": None,
        "openTextField": None,
        "invoiceData": None,
        "changesAttachment": None,
        "callCenterOperatorData": None,
        "packageAttachment": {"packages": []},
        "paymentData": {
            "transactions": [
                {
                    "isActive": True,
                    "transactionId": _uid(rng),
                    "merchantName": account.upper(),
                    "payments": [_payment(rng, value)],
                }
            ]
        },
        "shippingData": {
            "id": "shippingData",
            "address": {
                "addressType": "residential",
                "receiverName": f"{first} {last}",
                "addressId": "home",
                "versionId": None,
                "entityId": None,
                "postalCode": postal,
                "city": city,
                "state": state,
                "country": "BRA",
                "street": "Rua Exemplo",
                "number": str(rng.randint(1, 2000)),
                "neighborhood": "Centro",
                "complement": "",
                "reference": None,
                "geoCoordinates": [],
            },
            "logisticsInfo": _logistics(items, sla, created),
            "trackingHints": None,
            "selectedAddresses": [],
            "contactInformation": [],
        },
        "ratesAndBenefitsData": {"id": "ratesAndBenefitsData", "rateAndBenefitsIdentifiers": []},
        "marketingData": None,
        "giftRegistryData": None,
        "clientProfileData": {
            "id": "clientProfileData",
            "email": email,
            "firstName": first,
            "lastName": last,
            "documentType": "cpf",
            "document": f"{rng.randrange(10**11):011d}",
            "phone": f"+55119{rng.randrange(10**8):08d}",
            "corporateName": None,
            "tradeName": None,
            "corporateDocument": None,
            "stateInscription": None,
            "corporatePhone": None,
            "isCorporate": False,
            "userProfileId": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "userProfileVersion": None,
            "customerClass": None,
            "customerCode": None,
        },
        "items": items,
        "marketplaceItems": [],
    }
    return doc


def _payment(rng: random.Random, value: int) -> dict[str, Any]:
    return {
        "id": _uid(rng),
        "paymentSystem": "2",
        "paymentSystemName": "Visa",
        "value": value,
        "installments": 1,
        "referenceValue": value,
        "cardHolder": None,
        "cardNumber": None,
        "firstDigits": "411111",
        "lastDigits": f"{rng.randrange(10**4):04d}",
        "cvv2": None,
        "expireMonth": None,
        "expireYear": None,
        "url": None,
        "giftCardId": None,
        "giftCardName": None,
        "giftCardCaption": None,
        "redemptionCode": None,
        "group": "creditCard",
        "tid": str(rng.randrange(10**8)),
        "dueDate": None,
        "connectorResponses": {"Tid": "sandbox", "ReturnCode": "200", "Message": "approved"},
    }
