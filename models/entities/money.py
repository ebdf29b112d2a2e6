"""MONEY: find amounts of money and normalise them to ``{"amount": float, "currency": "CNY"|"USD"|...}``.

Covers symbols and codes (``￥99``, ``$20``, ``RMB 300``, ``HK$200``), unit words (``120元``,
``一百二十块``, ``20 dollars``, ``two hundred bucks``), sub-units (``三块五`` = 3.5, ``五毛`` = 0.5,
``3元5角``), 万/k suffixes (``1.2万元``) and the colloquial bare forms (``花了两千五``, ``退款1.2万``), which count
only after a money word (花了, 退款, 扣了, paid ...) since a bare number is usually not money.
Approximate forms (``200多块``) carry ``"approximate": true``.

Amounts with no currency word count where the context makes them money: after a money verb or
noun (花了699, 原价1299, paid 1450, refund of 64), before a fee (加100上楼费, 收560检测费, the 15.99
shipping fee), as a price with its unit (三百八一套, 一斤樱桃六十八, 59 each), and 万-sized amounts of
a thing (2.5万的沙发), the price a thing was bought for (899买的耳机), coupon thresholds and discounts
(满3000折300), a 3-6 digit amount standing alone between commas (小米14，5999，用了两周) and one
added to or compared with money just named (花了488，打车又是120多 / 平时也就两百左右), the price of a pack
(五斤装一百三十九) and both ends of a range whose one end says it is money (40到50块, $40 to 50), loans and car prices
(借了3万, 落地16.8万), amounts paid over (把2350退给他), prices before 包邮 / 全包, a currency word before Chinese
numerals (新台币一万二, the word inside the span) and in English an amount compared with one just named ("$212.47
instead of the usual 85"). Counts, percentages, sizes and versions stay out (3件, 3笔, 20%, 500ml, 6.18.2), so do room
numbers and HTTP status codes (病房是1203, 网页显示404), and 一毛都没拿到 ("not a cent").
Also what was agreed, written or came to (裸车价谈好15.8万, 收据却写6,850, 结帐变5,808), premiums (年缴6,380), a bill
(嘅单四万二), a pass (年卡三千六), each person's price (每人880), a price after what was bought (买的手机4999，) and
amounts paid over to someone (过咗一万六俾佢); doses (打了2剂) stay counts.
Indian English counts in lakhs and crores (1.8 lakh = 180,000 INR). Philippine pesos are ₱ / PHP; South African
rand is R before the amount (R4 870, a space for the thousands), read where the message is from South Africa.
元, 块, $ and the bare amounts are read in the currency of the message's region
(:mod:`models.entities.region`: ``300元`` from Taiwan is TWD, ``$200`` in Cantonese is HKD).
Lexicon: ``money.json``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from models.entities.lexicon import alternation, load, may_start
from models.entities.numerals import (
    ARABIC_NUMBER,
    CN_CHARS,
    CN_NUMBER,
    DIGITS,
    EN_WORD_NUMBER,
    parse_en_words,
    parse_number,
)
from models.entities.region import english_country

_M = load("money")
PREFIXES: dict[str, str] = _M["prefixes"]
SUFFIXES: dict[str, str] = {k.lower(): v for k, v in _M["suffixes"].items()}
SUBUNITS: dict[str, float] = _M["subunits"]

_NUMBER = rf"(?:\d+万\d+千|(?:{ARABIC_NUMBER})(?:[万千百亿]|[kKwW](?![A-Za-z]))?|\d+[千万]\d*|{CN_NUMBER})"
#: Not the tail of 1,299: after a digit and a comma only a number that cannot be a group of thousands (the
#: normaliser folds the Chinese comma too, so 订单…518，46.8的单子 arrives as 518,46.8); but after digits glued to
#: letters (t2kd-9xw4，455元) the comma ends a code, and an amount starts afresh.
_NOT_THOUSANDS_TAIL = r"(?:(?<!\d,)|(?<=[A-Za-z]\d,)|(?<=[A-Za-z]\d\d,)|(?<=[A-Za-z]\d\d\d,)|(?!\d{3}(?!\d)))"
#: 多 after a number, and 几 after a unit or a round figure (一千二百幾蚊, 十几块, 200几): "and some"
_APPROX = "多|(?<=[十百千万拾佰仟0])几"
_CN_DIGIT = "[" + "".join(DIGITS) + "]"
# 三块五 / 3元5角 / 两块五毛二; a bare digit after the unit is no sub-unit before a classifier, 元 or another
# digit (48元一份 is one portion, 5元10元 two amounts)
_TAIL = (
    rf"(?:(?:{_CN_DIGIT}|\d)(?:毛|角)(?:(?:{_CN_DIGIT}|\d)分?)?"
    rf"|(?:{_CN_DIGIT}|\d)(?:(?:{_CN_DIGIT}|\d)分?)?(?![{_M['unit_classifiers']}元块\d米]|小时|钟头|分钟|公里|公斤|千克|平米|立方))?"
)  # 5元一小时 is five yuan an hour, not 5.1
_PREFIX = alternation(PREFIXES, trail=False)
_SUFFIX = alternation(_M["suffixes"], lead=False)
_CONTEXT = alternation(_M["context_before"])
_STRONG_CONTEXT = alternation(set(_M["context_before"]) - set(_M["weak_context_before"]))
_BLOCK = alternation(_M["block_after"])
REGIONAL: dict[str, str] = _M["regional"]
#: Indian English: 1.8 lakh = 180,000, 2 crore = 20,000,000 (``scale_currency`` unless a symbol says otherwise).
SCALES: dict[str, int] = _M["scale_words"]
_SCALE = alternation(SCALES, lead=False)
_REGIONAL_UNITS = frozenset(_M["regional_units"])
#: The characters of a number in Chinese: its digits and its units (十百千万, and their banking forms).
_CN_NUMERALS = f"{''.join(DIGITS)}十百千万拾佰仟"
_CN_NUMERAL_CHARS = frozenset(_CN_NUMERALS)
_CN_UNIT_NUMBER = rf"(?=[{_CN_NUMERALS}]*[十百千万拾佰仟])[{_CN_NUMERALS}]{{2,12}}"
#: Look-aheads for patterns whose every match starts with its amount (an Arabic digit, or a character of
#: :data:`_CN_UNIT_NUMBER` / :data:`~models.entities.numerals.CN_NUMBER`), or with one of its money words: the
#: regex engine then skips the other positions at once, where the pattern fails anyway (the matches stay the same).
_AMOUNT_STARTS = may_start(extra=rf"\d{_CN_NUMERALS}")
_CN_NUMBER_STARTS = may_start(extra=rf"\d{CN_CHARS}")
_ANY_NUMBER = rf"(?:{ARABIC_NUMBER})(?:万|千)?\d?|{_CN_UNIT_NUMBER}"
_CLS = _M["unit_classifiers"]
_BLOCK_NOUNS = alternation(_M["block_nouns"])
#: After 一 + unit, a price follows (一斤樱桃六十八); not after 一次 (一次是…4), 一度 / 一方 ("once", "one side") ...
_PRICE_UNITS = "".join(c for c in _CLS if c not in "次天月年度方")
#: Words that make a following number money only when it looks like a price (>= 10): 才3.5 is a rating.
_WEAK: frozenset[str] = frozenset(_M["weak_context_before"])
_END = r"(?=[，。！？、；,.!?;:：)）\s]|$)"
#: Where a price written after what it bought ends: a clause break, the end, or (in voice-style text without
#: punctuation, 续的年卡3680 还有…) a space before the next Chinese word that is no unit or count of the number; that
#: last one only after a pass or a subscription (:func:`_vetoed`), as 显卡是3430 不错 / 麒麟930 is a model.
_CLAUSE_END = (
    rf"(?=[，,。；;！!、]|\s*$|\s(?=[\u4e00-\u9fff])(?!\s(?:{_BLOCK}|[{_CLS}]|{alternation(_M['block_nouns'])})))"
)
#: 3笔 counts transactions (被盗刷了3笔); 600楼梯费 / 300楼层费 are fees, 3万分12期 a loan in instalments
_NOT_COUNT = (
    rf"(?![\d.%A-Za-z]|{_BLOCK}|个|小时|分钟|周|星期|倍|遍|层|楼(?!梯|层费)|岁|名|分(?!\d{{1,2}}期|[一二三四五六七八九十两]{{1,3}}期)"
    r"|折|成|米|号|万|千|笔(?![记芯试画])"
    r")"
)

# ￥99 / RMB 300 / HK$200 / 人民币100元
#: Indian grouping (lakhs and crores: ₹1,45,000 = 145,000), after a currency symbol.
_LAKH = r"\d{1,2}(?:,\d{2})+,\d{3}(?!\d|,\d)(?:\.\d{1,2})?"
_LAKH_RE = re.compile(_LAKH)
_PREFIXED = re.compile(
    rf"{may_start(PREFIXES)}(?<![A-Za-z]){_PREFIX}\s?(?P<num>{_LAKH}|\d+万\d+千|{ARABIC_NUMBER})(?:(?P<mult>[万千kK](?![A-Za-z]))|\s?(?P<scale>{_SCALE}))?"
    rf"(?:\s?(?P<unit>元|块))?"
    r"(?:\s(?P<code>CAD|AUD|NZD|SGD|USD|HKD|TWD|MYR)\b)?",  # $75 CAD: the code after the amount says which dollar
    re.IGNORECASE,
)
#: Currency words (not symbols or codes) before an amount said in Chinese numerals: 新台币一万二, 人民币三千五,
#: 港币五百蚊 (the word is inside the span, as 人民币100 is).
_WORD_PREFIXES = {k: v for k, v in PREFIXES.items() if not k.isascii() and len(k) > 1}
_WORD_PREFIXED = re.compile(
    rf"{alternation(_WORD_PREFIXES)}(?P<num>{_CN_UNIT_NUMBER})(?P<approx>{_APPROX})?(?P<unit>元|块|蚊)?"
    rf"(?![{_CLS}]|{_BLOCK})"
)
# 120元 / 一百二十块钱 / 三块五 / 20 dollars / 200多块 / 3元5角
_SUFFIXED = re.compile(
    rf"{_CN_NUMBER_STARTS}(?<![\d.A-Za-z]){_NOT_THOUSANDS_TAIL}(?P<num>{_NUMBER})(?:\s?(?P<scale>{_SCALE}))?(?P<approx>{_APPROX})?\s?"
    rf"(?P<unit>{_SUFFIX})(?P<tail>{_TAIL})",
    re.IGNORECASE,
)
#: Between a money word and its amount: 电费突然八百多, 上门费每次480, 物业费一年交4680 (交 is a money word).
_FILLER = (
    r"(?:突然|竟然|居然|足足|整整|高达|就|也|都|又|只|还"
    r"|(?:每次|每笔|每月|每个月|一个月|每年|一年|每季|每间|每晚|每张|每位|每人)(?:收|交|付|要)?)?"
    r"(?:从)?"  # 报价也从1,200变成了1,850: what it was before it changed
    # 裸车价谈好15.8万 / 报价写明3千 / 结帐变5,808: what was agreed, written or came to
    r"(?:谈好|说好|讲好|讲明|写明|写着|写住|变成|变)?"
)
#: A receipt, an invoice or a bill that says an amount (收据却写6,850, 发票上写着): with the verb, as 发票12345678
#: alone is the invoice's number.
_DOCUMENTS = ("收据", "收条", "发票", "单据", "小票")
_DOCUMENT = rf"(?:{'|'.join(_DOCUMENTS)})上?(?:却|也|又|明明|竟然|居然)?(?:写|写着|写明|写住|显示|开了|开的)"
#: Arabic digits and Chinese units mixed as people type them: 3千5, 16万8, 1万2千, 两千5 (a dropped unit)
_MIXED = r"\d+万\d+千|\d+[千万]\d+|[一二两三四五六七八九十]{1,3}[千万]\d(?![\d.])"
# 花了两千五 / 退款1.2万 (bare numbers after a money word)
_BARE = re.compile(
    rf"{may_start([*_M['context_before'], '费', '税', '钱', *_DOCUMENTS])}"
    rf"(?:(?:{_CONTEXT}|费|税|(?<=[\u4e00-\u9fff])钱)\s?{_FILLER}|{_DOCUMENT})(?:了|咗|我|给我|你们|我们|是|为|要)?\s?(?P<num>{_MIXED}|(?:{ARABIC_NUMBER})[万千kK]?"
    rf"|{_CN_UNIT_NUMBER})(?:(?P<approx>{_APPROX})|(?![多几])){_NOT_COUNT}"
)
# 加100上楼费 / 收560检测费 / 150的打孔费 / 三百运费 / 999含运 / 9.9包邮 / 8万全包: an amount before the fee it pays
_FEE = re.compile(
    rf"{_AMOUNT_STARTS}(?<![\d.A-Za-z])(?<!\d,)(?P<num>{_MIXED}|(?:{ARABIC_NUMBER})[万千]?|{_CN_UNIT_NUMBER})(?:元|块)?(?:的)?"
    rf"(?!月(?!租|费)|年(?!费)|包(?!邮(?!票|件|局|政|箱|递|寄)|晒)"
    rf"|[{_CLS.replace('月', '').replace('年', '').replace('包', '')}]|周|度|号|楼(?!梯|层费)|层(?!费)|%)"
    rf"(?:(?<=的)[A-Za-z]{{2,5}})?[\u4e00-\u9fff]{{0,4}}?(?:(?<!免)费|含运|包邮|全包|包晒|到手价|到手|分期|违约金|保证金|押金|订金|定金)"
)
#: 每平米 / 每平方米 / 每公斤 ...: units of two or three characters after 每 (fixed-width lookbehinds, one each)
_PER_UNIT = "|".join(f"(?<=每{u})" for u in ("平米", "平方", "平方米", "公斤", "千克", "公里", "小时", "立方"))
# 三百八一套 / 12.8一斤: a price before its unit; 一斤樱桃六十八 / 一晚六百 / 每米80: after it
_UNIT_PRICE = re.compile(
    rf"(?<![\d.A-Za-z一])(?<!\d,)(?P<num>{_ANY_NUMBER})(?:元|块)?(?=一[{_CLS}])"
    # 每米80 / 每个30: the price of each unit, right after it (铜管超了3米每米80; 每个人打了20 is no price)
    # 每平米2.8 / 每公斤12.5: after a unit of area or weight too, and a price with its decimals
    rf"|(?:(?<=一[{_PRICE_UNITS}])[\u4e00-\u9fff]{{0,3}}?|(?<=每[{_PRICE_UNITS}米])|{_PER_UNIT})"
    rf"(?P<num2>{_CN_UNIT_NUMBER}|\d+(?:\.\d+)?万|[1-9]\d{{0,2}}(?:,\d{{3}})+(?:\.\d+)?|\d{{2,}}(?:\.\d+)?|\d\.\d{{1,2}}){_END}"
    # 298四人套餐 / 99双人餐: the price of a set meal or voucher, before it
    rf"|(?<![\d.A-Za-z])(?P<num3>[1-9]\d{{1,4}}(?:\.\d{{1,2}})?)(?=(?:[一二两三四五六七八九十]|\d)?人?(?:套餐|餐券|代金券|团购券))"
)
# 2.5万的沙发 / 三百九的保护套 / 3万2 (the dropped unit of spoken prices) / 46.8的单子 (any amount before what an
# order buys)
_OF_THING = re.compile(
    rf"{_AMOUNT_STARTS}(?:(?<![\d.A-Za-z]){_NOT_THOUSANDS_TAIL}(?P<num>(?:\d+(?:\.\d+)?万|{_CN_UNIT_NUMBER}))(?:(?P<approx>多)|(?!多))"
    rf"(?=的(?!{_BLOCK}|{_BLOCK_NOUNS}))"
    rf"|(?<![\d.A-Za-z]){_NOT_THOUSANDS_TAIL}(?P<num2>\d+万\d){_END}"
    rf"|(?<![\d.A-Za-z第]){_NOT_THOUSANDS_TAIL}(?P<num3>[1-9]\d{{0,5}}(?:\.\d{{1,2}})?|0\.\d{{1,2}})(?=的{alternation(_M['order_nouns'])}(?![量数])))"
)
# 899买的耳机 / 2999入手: the price a thing was bought for, before the verb
_BOUGHT = re.compile(
    rf"(?<![\d.A-Za-z双\-/在])(?<!\d,)(?P<num>\d+(?:\.\d+)?|{_CN_UNIT_NUMBER})(?:元|块)?(?=买的|买了|买回|入手|拿下|下单的|抢的|抢了|拍的|拍下)"
)
# 平台把2350退给他了 / 2350转给了卖家 / 把五百赔给我: an amount before the verb that pays it (back) to someone
_PAID_OVER = re.compile(
    rf"{_AMOUNT_STARTS}(?:(?<![\d.A-Za-z\-/第])(?<!\d,)(?P<num>(?:{ARABIC_NUMBER})[万千]?|{_CN_UNIT_NUMBER})(?:元|块|蚊)?"
    r"(?=(?:退|转|赔|还|汇|付|补|垫)(?:了|咗)?给|(?:退还|退回|返还|转账)(?:了|咗)?给)"
    rf"|(?<=把)(?P<num2>(?:{ARABIC_NUMBER})[万千]?|{_CN_UNIT_NUMBER})(?:元|块|蚊)?(?=退|转|赔|还|汇|付|补|垫|扣|划)"
    # 过咗一万六俾佢 (Cantonese 过数: a transfer) / 转了5000给他 / 付了三千给师傅: paid over, then to whom
    rf"|(?:(?<=过咗)|(?<=过了)|(?<=转咗)|(?<=转了)|(?<=付咗)|(?<=付了)|(?<=入咗)|(?<=汇了)|(?<=俾咗)|(?<=给了))"
    rf"(?P<num3>(?:{ARABIC_NUMBER})[万千]?|{_CN_UNIT_NUMBER})(?:元|块|蚊)?(?=俾|畀|给))"
)
#: 每人880吃到饱 / 人均三百: the price of each person (each person's count says its classifier: 每人3个)
_PER_HEAD = re.compile(
    rf"(?:(?<=每人)|(?<=每位)|(?<=每个人)|(?<=每位大人)|(?<=每大人))(?P<num>[1-9]\d{{1,4}}(?:\.\d{{1,2}})?|{_CN_UNIT_NUMBER})"
    rf"(?![\d.%A-Za-z]|[{_CLS}]|{_BLOCK}|个|分|岁|名|层|楼|号|点|张|票|斤|公里|小时|分钟)"
)
#: 住院三日嘅单四万二 / 上个月的单1280: a bill of that amount (an order's number is longer: 的单12345678)
_BILL = re.compile(
    rf"(?<=[的嘅])单\s?(?P<num>[1-9]\d{{1,4}}(?:\.\d{{1,2}})?(?!\d)|\d+(?:\.\d+)?[万千]|{_CN_UNIT_NUMBER})"
    rf"(?![\d.%A-Za-z号]|[{_CLS}]|{_BLOCK})"
)
#: 买的手机4999， / 订的沙发2.5万， / 买了件大衣三千二，: the price after what was bought, ending its clause
_BOUGHT_THING = re.compile(
    # the thing, not where it is (买的房子在1203 / 住在 / 第 / 号 / 房: a place or an ordinal, no price)
    r"(?:买的|买了|订的|订了|入手的|拍的|下单的)(?:(?![在住第号房室位於于])[\u4e00-\u9fff]){1,6}?"
    rf"(?P<num>[1-9]\d{{0,2}}(?:,\d{{3}})+(?:\.\d{{1,2}})?|[1-9]\d{{2,5}}(?:\.\d{{1,2}})?|\d+(?:\.\d+)?[万千]"
    rf"|{_CN_UNIT_NUMBER})(?P<approx>多)?(?=[，,。；;！!]|\s*$|\s(?=[\u4e00-\u9fff]))"
)
#: 这一百五就当白花了 / 420等於白花 / 三千块打水漂: an amount the customer says was wasted
_WASTED = re.compile(
    rf"{_AMOUNT_STARTS}(?<![\d.A-Za-z])(?<!\d,)(?P<num>(?:{ARABIC_NUMBER})[万千]?|{_CN_UNIT_NUMBER})(?:元|块|蚊)?"
    r"(?=(?:就|都|也|算是|等于|等於)?(?:当|当作|算|算是)?(?:是)?(?:白花|白给|白交|白付|打水漂|打了水漂))"
)
#: 网页写着一千二 / 标价三百八 / 价签上写住一千二: a spoken price (百 / 千 / 万) that a page, a tag or a sign says
_SAYS = re.compile(
    r"(?:写住|写着|写明|标着|标明|标价|标的|显示|写的)(?:是|系|为)?"
    rf"(?P<num>(?=[{''.join(DIGITS)}十百千万]*[百千万])[{''.join(DIGITS)}十百千万]{{2,12}})"
    rf"(?![{''.join(DIGITS)}十百千万])(?P<approx>多)?(?:元|块|蚊)?{_NOT_COUNT}"
)
# 满300减50 / 滿3000折300 (Taiwan: 折 = off): the threshold and the discount of a coupon
_COUPON = re.compile(
    rf"满(?P<num>{ARABIC_NUMBER}|{_CN_UNIT_NUMBER})(?:元|块)?(?:减|折|送|返)(?P<num2>{ARABIC_NUMBER}|{_CN_UNIT_NUMBER})"
    rf"(?![\d.%折])"
)
#: 50抵100 / 30元抵50: a voucher bought for the first amount that pays the second; only where the sentence speaks of a
#: voucher or a coupon (:func:`_vouchers`), as 1抵2 / 3抵5 elsewhere are counts.
_VOUCHER = re.compile(
    r"(?<![\d.A-Za-z])(?P<num>[1-9]\d{0,4}(?:\.\d{1,2})?)(?:元|块)?抵(?P<num2>[1-9]\d{0,4}(?:\.\d{1,2})?)(?![\d.%A-Za-z])"
)
_VOUCHER_WORDS = re.compile(r"券|红包|优惠|代金|抵用|voucher|coupon", re.IGNORECASE)
#: ，960还没到账 / 500块到现在都没入账: an amount said to arrive (or not) in an account
_ARRIVED = re.compile(
    rf"(?<![\d.A-Za-z])(?<!\d,)(?P<num>(?:{ARABIC_NUMBER})[万千]?|{_CN_UNIT_NUMBER})(?:元|块)?"
    r"(?=(?:还|都|也|仲)?(?:没有|没|未|冇)?(?:到账|到帐|入账|入帐|退回来|退到))"
)
#: 花生油5L×1 89.90 / 避風塘炒蟹 x1 588: a receipt line, the line's price after its quantity
_RECEIPT_LINE = re.compile(
    # not a size or a unit after it (x2 256GB, x1 500ml)
    r"(?:[×xX*]\s?\d{1,3})\s(?P<num>[1-9]\d{0,5}(?:\.\d{1,2})?|0\.\d{1,2})(?![\d.%]|\s?(?:[A-Za-z×*]|毫升|克|公斤|斤))"
)
#: "2x Duracell AA 24pk @ 18.99 = 37.98": a receipt's unit price and line total
_EN_RECEIPT = re.compile(r"@\s?(?P<num>\d{1,5}(?:\.\d{2})?)(?:\s?=\s?(?P<num2>\d{1,6}(?:\.\d{2})?))?(?![\d.%])")
# 小米14 Ultra，5999，用了不到两周: an amount standing alone between commas, as prices are written in
# complaints (not a year, not after 号 / 码, 3-6 digits)
_ALONE = re.compile(
    r"(?<=[，,])(?:(?<!\d,)|(?<=[A-Za-z]\d,)|(?<=[A-Za-z]\d\d,))(?<!\d，)\s?(?P<num>(?!(?:19|20)\d\d[，,。\s])(?:[1-9]\d{0,2}(?:,\d{3})+|[1-9]\d{2,5})"
    r"(?:\.\d{1,2})?)\s?(?=[，,。]|\s?×\s?\d|\s[xX*]\s\d)"
)
# 买的吹风机，四千九百九十，型号…: the same in Chinese numerals, a spoken price (with 百 / 千 / 万), only where the
# sentence before it says what was bought or paid (:func:`_vetoed`): a count between commas is as likely
_ALONE_CN = re.compile(
    r"(?<=[，,])\s?(?P<num>(?=[零一二两三四五六七八九十百千万]*[百千万])[零一二两三四五六七八九十百千万]{2,12}"
    r"|(?<!\d,)\d{1,4}(?:\.\d{1,2})?万)\s?(?=[，,。；;！!]|$)"  # ，12.8万，: ten-thousands, as a car's price is said
)
# 网课6980，/ 一束康乃馨199，/ 健身包年1988，: a price written straight after what it bought, ending a clause
_AFTER_THING = re.compile(
    r"(?<=[\u4e00-\u9fff])(?<![号码室房间楼栋层第位住约共到至从段尾区路街道巷弄村线版代级届转打找拨元机和与及或、])"
    r"(?<!体重)(?<!身高)(?<!容量)(?<!差评)(?<!投诉)(?<!型号)(?<!支持)(?<!分机)(?<!分机为)(?<!得分)(?<!评分)(?<!分数)(?<!日期)"
    # 积分12680 / 成长值3200 / 上期示数12873，本期2511: points and meter readings, not prices
    r"(?<!积分)(?<!点数)(?<!成长值)(?<!经验值)(?<!示数)(?<!读数)(?<!本期)(?<!上期)"
    rf"(?P<num>[1-9]\d{{0,2}}(?:,\d{{3}})+(?:\.\d{{1,2}})?|[1-9]\d{{2,4}}(?:\.\d{{1,2}})?|[1-9]\d\.\d{{1,2}}){_CLAUSE_END}"
)
# 床垫一千九百八，: the same in Chinese numerals, a hundred or more (三百八, 一千九百八: the shape of a spoken price)
_AFTER_THING_CN = re.compile(
    r"(?<=[\u4e00-\u9fff])(?<![号码室房间楼栋层第位住约共到至从段尾区路街道巷弄村线版代级届转打找拨元机了过考跑排等走有"
    r"零一二两三四五六七八九十百千万几])(?<!体重)(?<!身高)(?<!容量)(?<!得分)(?<!评分)(?<!分数)"
    r"(?P<num>(?=[零一二两三四五六七八九十百千万]*[百千万])[零一二两三四五六七八九十百千万]{2,12})(?=[，,。；;！!]|\s*$)"
)
# 五斤装一百三十九 / 12瓶装89: the price of a pack, after its size
_PACK = re.compile(
    rf"(?:\d+|[一二两三四五六七八九十]{{1,3}})(?:[{_CLS}]|克|千克|公斤|g|kg|ml|L)装\s?"
    rf"(?P<num>{_CN_UNIT_NUMBER}|[1-9]\d{{0,4}}(?:\.\d{{1,2}})?)(?![\d.%A-Za-z]|[{_CLS}]|{_BLOCK}|多|几)"
)
#: 花了488，打车又是120多 / 电费八百多，平时也就两百左右: an amount added to or compared with one named before it in
#: the same sentence (money only where one was: :func:`_parallel`); 左右 stays outside, as 以后 does for times.
_PARALLEL = re.compile(
    rf"(?:{alternation(_M['parallel_before'])})(?:{alternation(_M['parallel_filler'])}){{0,3}}\s?"
    rf"(?P<num>(?:{ARABIC_NUMBER})[万千kK]?|\d+[千万]\d+|{_CN_UNIT_NUMBER})(?:(?P<approx>{_APPROX})|(?![多几])){_NOT_COUNT}"
    # 又是12点 / 还是1803房 / 点了20份 / 买了2019款: a time, a room, a count, a model
    rf"(?![点:：房室栋座期届级款型版代]|[{_CLS}])"
)
_SENTENCE_END = re.compile(r"[。！？!?\n]")
_EN_NUM = r"\d{1,3}(?:,\d{3})+(?:\.\d{1,2})?|\d+(?:\.\d{1,2})?"
_EN_BLOCK = alternation(_M["en_block_after"])
_EN_CONTEXT = alternation(_M["en_context_before"])
_EN_FILLER = r"(?:(?:about|around|almost|over|nearly|only|just|another|an extra|extra)\s)?"
# paid 1450 / charged me 75 / refund of 64 / the 15.99 shipping fee / 59 each
_EN_BARE_STARTS = may_start(_M["en_context_before"], extra=r"\d")  # a money word, or the amount
_EN_BARE = re.compile(
    rf"{_EN_BARE_STARTS}(?:{_EN_CONTEXT}\s{_EN_FILLER}"
    rf"(?P<num>{_EN_NUM})(?![\d.,]?\d)(?:\s?(?P<scale>{_SCALE})|(?!\s?{_EN_BLOCK})(?![A-Za-z%]))"
    rf"|(?<![\d.A-Za-z$£€])(?<!\d,)(?P<num2>{_EN_NUM})\s(?:[a-z]+\s)?{alternation(_M['en_fee_nouns'])}"
    rf"|(?<![\d.A-Za-z$£€])(?<!\d,)(?P<num3>{_EN_NUM})\s(?:each|apiece|per (?:night|month|person|item|piece|unit))\b)",
    re.IGNORECASE,
)
#: charged me $212.47 instead of the usual 85 / up from 60: a bare amount compared with money named before it in the
#: same sentence (money only where one was, as :data:`_PARALLEL`)
_EN_PARALLEL = re.compile(
    r"\b(?:(?:instead\sof|rather\sthan|up\sfrom|down\sfrom|compared\s(?:to|with)|versus|vs\.?)\s"
    r"(?:(?:the|my|our|their|a|an)\s)?(?:(?:usual|normal|regular|typical|standard|expected|original|agreed|quoted"
    r"|advertised|promised|old|previous)\s)?"
    r"|\bthe\s(?:usual|normal|regular|typical|standard|agreed|quoted|advertised|promised)\s)"
    rf"(?P<num>{_EN_NUM})(?![\d.,]?\d)(?!\s?{_EN_BLOCK})(?![A-Za-z%])",
    re.IGNORECASE,
)
# two hundred bucks / fifty dollars: an amount spelled out, before a currency word
_EN_WORDS = re.compile(
    rf"(?P<num>{EN_WORD_NUMBER})\s(?P<unit>{alternation(k for k in SUFFIXES if k.isascii() and k.isalpha())})\b",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class MoneyMatch:
    start: int
    end: int
    amount: float
    currency: str
    approximate: bool = False
    confidence: float = 0.95

    def normalized(self) -> dict[str, Any]:
        out: dict[str, Any] = {"amount": round(self.amount, 2), "currency": self.currency}
        if self.approximate:
            out["approximate"] = True
        return out


def _tail_value(tail: str, unit: str) -> float:
    """The sub-unit after the main unit: 三块五 -> 0.5, 3元5角 -> 0.5, 两块五毛二 -> 0.52."""
    if not tail:
        return 0.0
    digits = [DIGITS[c] if c in DIGITS else int(c) for c in tail if c in DIGITS or c.isdigit()]
    if unit in SUBUNITS:  # 五毛二 = 0.5 + 0.02
        return digits[0] * 0.01 if digits else 0.0
    value = digits[0] * 0.1 if digits else 0.0
    if len(digits) > 1:
        value += digits[1] * 0.01
    return value


def find_money(text: str, region: str = "cn") -> list[MoneyMatch]:
    """All money amounts in a normalised text (overlaps resolved: the longest wins); ``region``: see the module."""
    local = REGIONAL.get(region, "CNY")
    found: list[MoneyMatch] = []
    for m in _PREFIXED.finditer(text):
        num = m.group("num").replace(",", "") if _LAKH_RE.fullmatch(m.group("num")) else m.group("num")
        amount = parse_number(num + (m.group("mult") or ""))
        if amount is not None and m.group("scale"):
            amount *= SCALES[m.group("scale").lower()]  # ₹1.8 lakh
        prefix = text[m.start() : m.start("num")].strip().upper()
        currency = PREFIXES.get(prefix) or PREFIXES.get(text[m.start() : m.start("num")].strip(), "CNY")
        if prefix == "$" and region in ("hk", "tw"):
            currency = local
        if m.group("code"):
            currency = m.group("code").upper()
        if currency == "PHP" and _VERSION.fullmatch(m.group("num")):
            continue  # upgraded to PHP 8.1: the language's version, not pesos
        if prefix.isalpha() and (re.match(r"0\d", m.group("num")) or re.fullmatch(r"\d{7,}", m.group("num"))):
            continue  # 订位编号RS0122-1087 / 個案號碼RM2612300158: a code that starts with letters, not Rs or RM
        if amount is not None:
            found.append(MoneyMatch(m.start(), m.end(), amount, currency, confidence=0.97))
    for m in _SUFFIXED.finditer(text):
        unit = m.group("unit")
        if unit == "元" and text[m.end("unit") : m.end("unit") + 1] == "旦":
            continue
        num = m.group("num")
        if unit == "块" and not _money_like_block(text, m):
            continue
        if num == "一" and _NOT_A_CENT.match(text, m.end("unit")):
            continue  # 一毛都没拿到: "not a cent", no amount
        amount = parse_number(num)
        if amount is None:
            continue
        if m.group("scale"):
            amount *= SCALES[m.group("scale").lower()]  # 3 lakh rupees
        tail = m.group("tail")
        if tail and unit.lower() not in ("元", "块", "块钱", "圆", "毛", "角"):
            tail = ""
        end = m.end("tail") if tail else m.end("unit")
        base_unit = unit.removesuffix("钱")  # 五毛钱 = 五毛
        if base_unit in SUBUNITS:
            amount *= SUBUNITS[base_unit]
        amount += _tail_value(tail, base_unit)
        if _a_weight(text, m):
            continue
        currency = local if base_unit in _REGIONAL_UNITS and region != "en" else SUFFIXES[unit.lower()]
        if currency == "USD" and text[max(0, m.start() - 3) : m.start()].upper().endswith(("HK", "NT")):
            continue
        found.append(MoneyMatch(m.start(), end, amount, currency, bool(m.group("approx")), 0.95))
    for m in _WORD_PREFIXED.finditer(text):
        amount = parse_number(m.group("num"))
        currency = _WORD_PREFIXES[text[m.start() : m.start("num")]]
        if amount:
            found.append(MoneyMatch(m.start(), m.end(), amount, currency, bool(m.group("approx")), confidence=0.95))
    for m in _EN_WORDS.finditer(text):
        amount = parse_en_words(m.group("num"))
        if amount and not _a_weight(text, m):  # None for "one fifty"; "a dollar" says no number at all
            found.append(MoneyMatch(m.start(), m.end(), amount, SUFFIXES[m.group("unit").lower()], confidence=0.9))
    if region == "en":
        found += rand_amounts(text)
        for m in _EN_RECEIPT.finditer(text):  # @ 18.99 = 37.98
            for group in ("num", "num2"):
                if m.group(group):
                    amount = float(m.group(group))
                    found.append(MoneyMatch(m.start(group), m.end(group), amount, REGIONAL["en"], confidence=0.8))
    bare: tuple[re.Pattern[str], ...] = ()
    if region != "en":
        bare = (_BARE, _FEE, _UNIT_PRICE, _OF_THING, _BOUGHT, _ALONE, _AFTER_THING, _AFTER_THING_CN, _PACK)
        bare += (_PAID_OVER, _ALONE_CN, _PER_HEAD, _BILL, _BOUGHT_THING, _WASTED, _SAYS, _ARRIVED, _RECEIPT_LINE)
    found += _vouchers(text, local) if region != "en" else []
    for m in _COUPON.finditer(text) if region != "en" else ():
        for group in ("num", "num2"):
            amount = parse_number(m.group(group))
            if amount:
                found.append(MoneyMatch(m.start(group), m.end(group), amount, local, confidence=0.85))
    for regex in (*bare, _EN_BARE):
        for m in regex.finditer(text):
            group = next(g for g in ("num", "num2", "num3") if g in m.re.groupindex and m.group(g))
            amount = parse_number(m.group(group).replace(",", "") if regex is _EN_BARE else m.group(group))
            if amount is None or amount == 0 or _vetoed(regex, m, group, amount, text):
                continue
            first, before = m.group(group)[0], text[m.start(group) - 1] if m.start(group) else ""
            if first in _CN_NUMERAL_CHARS and before in _CN_NUMERAL_CHARS:
                continue  # 百二十九 of 一百二十九: the middle of a number the pattern could not start at
            end = m.end(group)
            approximate = "approx" in m.re.groupindex and bool(m.group("approx"))
            if approximate:
                end = m.end("approx")
            currency = local
            if "scale" in m.re.groupindex and m.group("scale"):  # paid 1.8 lakh
                amount, end, currency = amount * SCALES[m.group("scale").lower()], m.end("scale"), _M["scale_currency"]
            confidence = 0.7 if regex in (_ALONE, _AFTER_THING, _AFTER_THING_CN, _ALONE_CN, _BOUGHT_THING) else 0.8
            found.append(MoneyMatch(m.start(group), end, amount, currency, approximate, confidence=confidence))
    found += _parallel(text, found, local, _PARALLEL if region != "en" else _EN_PARALLEL)
    if region != "en":
        found += _beside_money(text, found, local)
    found += _range_starts(text, found) + _range_ends(text, found)
    return _longest(found)


#: PHP before a version number (PHP 8.1, PHP 7.4.33): the programming language. Peso amounts that small are
#: written with their centavos (PHP 9.50) or without a decimal point.
_VERSION = re.compile(r"\d{1,2}\.\d(?:\.\d+)*")
#: South African rand: R before the amount, its thousands set off by a comma or a space (R12,500, R4 870, R450).
_RAND = re.compile(
    r"(?<![A-Za-z0-9$])R\s?(?P<num>[1-9]\d{0,2}(?:[ ,]\d{3}(?!\d))+(?:\.\d{2})?|\d+(?:\.\d{2})?)"
    r"(?![\d.,]?\d|[A-Za-z%])"
)


def rand_amounts(text: str) -> list[MoneyMatch]:
    """R12,500 / R4 870 in an English message from South Africa (:func:`models.entities.region.english_country`);
    elsewhere R before a number is a model, a grade or a refrigerant (R134a, an R18 film) far more often than money."""
    if english_country(text) != "za":
        return []
    out: list[MoneyMatch] = []
    for m in _RAND.finditer(text):
        amount = parse_number(re.sub(r"[ ,]", "", m.group("num")))
        if amount:
            out.append(MoneyMatch(m.start(), m.end(), amount, "ZAR", confidence=0.95))
    return out


#: 一毛都没拿到 / 一分钱也不退 / 一块钱都冇: "not a cent", said of money that never came; no amount.
_NOT_A_CENT = re.compile(r"钱?(?:都|也)(?:没|不|未|冇|唔|無|无)")
#: The first amount of a range whose second one says the currency: 40到50块, 100-200元, 两到三万, 40 to 50 dollars.
_RANGE_START = re.compile(
    rf"(?<![\d.A-Za-z第几])(?<!\d,)(?P<num>{ARABIC_NUMBER}|{CN_NUMBER})\s?(?:到|至|~|～|-|–|—|\sto\s)\s?$",
    re.IGNORECASE,
)
#: The second amount of a range whose first one has the currency symbol: $40 to 50, HK$300至500, ￥40-50.
_RANGE_END = re.compile(
    rf"\s?(?:到|至|~|～|-|–|\sto\s)\s?(?P<num>{ARABIC_NUMBER})(?P<mult>[万千kK](?![A-Za-z]))?"
    rf"(?![\d.%A-Za-z]|,\d|\s?{_EN_BLOCK}|{_BLOCK})",
    re.IGNORECASE,
)
#: The multiplier the second amount of a range shares with the first (一到两万 = 10000 to 20000).
_RANGE_MULTIPLIER = re.compile(r"[\d.,一二两三四五六七八九十百千]+(?P<mult>[万千kK])")


def _range_ends(text: str, found: list[MoneyMatch]) -> list[MoneyMatch]:
    """The second amount of each range that starts with a symbol-prefixed amount (:data:`_RANGE_END`): a larger
    one, the same currency."""
    out: list[MoneyMatch] = []
    for money in found:
        if text[money.start : money.start + 1].isdigit():
            continue  # 40元到50元 names its unit twice; only a symbol before the first says it for both
        m = _RANGE_END.match(text, money.end)
        amount = parse_number(m.group("num") + (m.group("mult") or "")) if m is not None else None
        if m is not None and amount is not None and amount > money.amount:
            end = m.end("mult") if m.group("mult") else m.end("num")
            out.append(MoneyMatch(m.start("num"), end, amount, money.currency, confidence=money.confidence))
    return out


def _range_starts(text: str, found: list[MoneyMatch]) -> list[MoneyMatch]:
    """The first amount of each range ending in an amount found (:data:`_RANGE_START`): a smaller one, the same
    currency; a range's start said without a unit is money because its end is."""
    out: list[MoneyMatch] = []
    for money in found:
        m = _RANGE_START.search(text, max(0, money.start - 20), money.start)
        if m is None or m.end() != money.start or m.group("num") == "一":
            continue  # a lone 一 ends a word (统一到50块) more often than it starts a range
        amount = parse_number(m.group("num").replace(",", "") if m.group("num")[0].isdigit() else m.group("num"))
        mult = _RANGE_MULTIPLIER.match(text, money.start)
        if amount is not None and mult is not None and m.group("num")[-1] not in "万千kK":
            amount *= parse_number("1" + mult.group("mult")) or 1
        elif amount is not None and amount < 10 and money.amount >= 100 and money.amount % 100 == 0:
            amount *= 10 ** (len(str(int(money.amount))) - 1)  # 5-600元 is 500 to 600, 2-3000 2000 to 3000
        if amount is not None and 0 < amount < money.amount:
            out.append(MoneyMatch(m.start("num"), m.end("num"), amount, money.currency, confidence=money.confidence))
    return out


def _vouchers(text: str, currency: str) -> list[MoneyMatch]:
    """Both amounts of each :data:`_VOUCHER` (50抵100) in a sentence that names a voucher or a coupon."""
    out: list[MoneyMatch] = []
    for m in _VOUCHER.finditer(text):
        paid, worth = float(m.group("num")), float(m.group("num2"))
        lo = max((s.end() for s in _SENTENCE_END.finditer(text, 0, m.start())), default=0)
        hi = next((s.start() for s in _SENTENCE_END.finditer(text, m.end())), len(text))
        if paid < 5 or worth <= paid or not _VOUCHER_WORDS.search(text, lo, hi):
            continue
        out.append(MoneyMatch(m.start("num"), m.end("num"), paid, currency, confidence=0.8))
        out.append(MoneyMatch(m.start("num2"), m.end("num2"), worth, currency, confidence=0.8))
    return out


def _parallel(text: str, found: list[MoneyMatch], currency: str, pattern: re.Pattern[str]) -> list[MoneyMatch]:
    """Amounts added to or compared with money named earlier in the same sentence (:data:`_PARALLEL`, in English
    :data:`_EN_PARALLEL`)."""
    out: list[MoneyMatch] = []
    for m in pattern.finditer(text):
        amount = parse_number(m.group("num").replace(",", ""))
        if amount is None or amount < 10:
            continue  # 又是3: a count far more often
        if not any(f.end <= m.start() and not _SENTENCE_END.search(text, f.end, m.start()) for f in found):
            continue
        approx = "approx" in m.re.groupindex and bool(m.group("approx"))
        end = m.end("approx") if approx else m.end("num")
        out.append(MoneyMatch(m.start("num"), end, amount, currency, approx, confidence=0.75))
    return out


#: 定制沙发2.3万， / 装修全包15万。: ten-thousands right after what they bought, ending a clause; money only where the
#: message names money elsewhere (:func:`_beside_money`), as 里程1.2万， / 粉丝2万， count kilometres and followers.
_WAN_AFTER_THING = re.compile(
    r"(?<=[\u4e00-\u9fff])(?<![量数程丝分票步人字次号码第约共近超过达破])"
    r"(?P<num>\d{1,4}(?:\.\d{1,2})?万)(?P<approx>多)?(?=[，,。；;！!]|\s*$)"
)


def _beside_money(text: str, found: list[MoneyMatch], currency: str) -> list[MoneyMatch]:
    """:data:`_WAN_AFTER_THING` amounts of a message that names money somewhere else."""
    out: list[MoneyMatch] = []
    for m in _WAN_AFTER_THING.finditer(text):
        amount = parse_number(m.group("num"))
        if not amount or not any(f.end <= m.start() or f.start >= m.end() for f in found):
            continue
        if _BODY.search(text, m.end("num"), m.end("num") + 8):
            continue
        approx = bool(m.group("approx"))
        out.append(
            MoneyMatch(m.start("num"), m.end("approx") if approx else m.end("num"), amount, currency, approx, 0.7)
        )
    return out


#: After a number: more factors of a size (240 x 95 x 85cm, 1.6米×0.9米).
_DIMENSIONS = re.compile(r"\s?[xX×*]\s?\d+(?:\.\d+)?\s?(?:[xX×*]|cm|mm|m\b|米|厘米|公分)")
#: After a number alone between commas: a height or a size (买大了，175，70公斤), not a price.
_BODY = re.compile(r"公斤|斤|kg|cm|厘米|码|岁|偏小|偏大|大了|小了|ml|毫升|身高|体重")
_SERVICE_NAMES = frozenset(load("identifiers")["service_names"])
_YEAR = re.compile(r"(?:19|20)\d\d")
#: A pass or a subscription right before a number: the number is its price, even when it looks like a year.
_PASS_BEFORE = re.compile(r"(?:包年|包月|年卡|月卡|季卡|次卡|年费|会籍)$")
_FESTIVALS = frozenset({"618", "1111", "1212", "315", "十一", "十二", "双十一", "双十二"})
#: A room, a bed, a seat or a parking space named right before the number (病房是1203, 房间1208, 床位系12): its number.
_PLACE_NUMBER_BEFORE = re.compile(
    r"(?:号|号码|编码|房|室|房间|房号|病房|病床|床|床位|座位|车位|门牌|单元|工号|分机|楼)(?:是|系|为|在|号)?[:：]?\s?$"
)
#: HTTP status codes (404, 500, 502 ...) where a page, a link or an app is talked about (撳入去系404, 网页显示500).
_HTTP_CODES = frozenset({"400", "401", "403", "404", "405", "408", "429", "500", "502", "503", "504"})
_HTTP_CONTEXT = re.compile(
    r"<url>|link|链接|连结|网址|网页|页面|网站|app|APP|App|打开|点开|点进去|入去|进去|揿|报错|错误|显示|error|Error|ERROR"
)
#: What was bought or paid before a Chinese-numeral amount alone between commas (:data:`_ALONE_CN`).
_BOUGHT_BEFORE = re.compile(r"买|购|入手|下单|拍下|订了|订的|订咗|订左|花|付|收费|收了|价|卖|刷了|扣了")
#: 买的是乐高42115 / 订的是沙发S3: what was bought is named, and a number glued to the name is its model, not a price.
_NAMED_THING = re.compile(r"(?:买|订|拍|入手)的是[\u4e00-\u9fff]{1,6}$")
#: Loans (借了 / 贷款): before a classifier the number counts things (借了3本书), not money.
_LOAN_BEFORE = re.compile(r"(?:借|贷)\S{0,3}$")


def _vetoed(regex: re.Pattern[str], m: re.Match[str], group: str, amount: float, text: str) -> bool:
    """Whether what a context pattern found is no amount after all, by the pattern's own reasons."""
    num = m.group(group)
    if num in _SERVICE_NAMES:
        return True  # 12306退票手续费: the railway's site
    if regex is _BARE:
        if m.group(0).startswith("价") and text[m.start() - 1 : m.start()] == "评":
            return True  # 评价从5颗星: a review's stars, not a price
        if m.group(0).startswith("值") and text[m.start() - 1 : m.start()] in tuple("长验分数糖压率测"):
            return True  # 成长值3200 / 经验值 / 血糖值: a measure, not what something is worth
        before = text[max(0, m.start() - 3) : m.start(group)]
        if _LOAN_BEFORE.search(text, max(0, m.start() - 1), m.start(group)) and (
            amount < 10 or re.match(rf"[{_CLS}本辆名位些]", text[m.end(group) : m.end(group) + 1])
        ):
            return True  # 借了3本书 / 借了2个: things lent, not money
        return (
            (amount < 10 and _weak_context(before))
            or (amount < 100 and m.group(0).startswith("不到"))  # 不到350 is a price; 不到20 an age or a count
            # 加了17951: a dialling prefix; an extra charge that large says 元 or 万
            or (amount >= 10000 and text[max(0, m.start() - 1) : m.start(group)].rstrip("了").endswith("加"))
        )
    # 618买的 / 2024的订单 / 把618退给: a festival, a year
    if regex in (_BOUGHT, _PAID_OVER) or (regex is _OF_THING and group == "num3"):
        return amount < 10 or _festival_or_date(num) or bool(_YEAR.fullmatch(num))
    if regex is _BOUGHT_THING:
        return (
            amount < 100
            or bool(_NAMED_THING.search(text, max(0, m.start(group) - 12), m.start(group)))
            or bool(_YEAR.fullmatch(num))
            or num in _FESTIVALS
            or bool(_PLACE_NUMBER_BEFORE.search(text, max(0, m.start(group) - 6), m.start(group)))
            or bool(_BODY.search(text, m.end(group), m.end(group) + 8))
            or text[m.start(group) - 1] in "码号型款版代"  # 买的鞋码420 / 买的型号X: a size, a model
        )
    if regex in (_ALONE, _AFTER_THING, _AFTER_THING_CN, _ALONE_CN) and (
        _PLACE_NUMBER_BEFORE.search(text, max(0, m.start(group) - 6), m.start(group))
        or (num in _HTTP_CODES and _HTTP_CONTEXT.search(text, max(0, m.start(group) - 24), m.start(group)))
    ):
        return True  # 病房是1203: a room; 揿入去系404: a page that is not there
    if regex is _ALONE_CN:
        sentence = _SENTENCE_END.split(text[: m.start(group)])[-1]
        return (
            amount < 100
            or not _BOUGHT_BEFORE.search(sentence)
            or bool(_BODY.search(text, m.end(group), m.end(group) + 8))
        )
    spaced = text[m.end(group) : m.end(group) + 1].isspace() and m.end(group) < len(text.rstrip())
    if regex is _AFTER_THING and spaced and not _PASS_BEFORE.search(text, 0, m.start(group)):
        return True  # 年卡3680 还有…: a space ends the price only after a pass (显卡是3430 不错 is a model)
    if regex is _ALONE and _DIMENSIONS.match(text, m.end(group)):
        return True  # ，240 x 95 x 85cm: a size, not 240 times a quantity
    if regex in (_ALONE, _AFTER_THING, _AFTER_THING_CN):
        return (
            bool(_NAMED_THING.search(text, max(0, m.start(group) - 12), m.start(group)))
            or text[max(0, m.start() - 3) : m.start()].rstrip("，, ").endswith(("号", "号码", "编码"))
            or bool(_BODY.search(text, m.end(group), m.end(group) + 8))
            or len(set(num)) == 1  # 666 / 888: praise and luck
            or num in _FESTIVALS  # 618 / 315: the festival and the consumer-rights day
            # 2019，: a year; but 健身包年1988， / 年卡2025， is what the year's pass cost
            or (regex is _AFTER_THING and bool(_YEAR.fullmatch(num)) and not _PASS_BEFORE.search(text, 0, m.start()))
        )
    return False


_WEIGHS = re.compile(r"\bweigh", re.IGNORECASE)


def _a_weight(text: str, m: re.Match[str]) -> bool:
    """It weighs 200 pounds / weighed two hundred pounds: pounds of weight, not sterling."""
    return m.group("unit").lower().startswith("pound") and bool(_WEIGHS.search(text, max(0, m.start() - 24), m.start()))


def _festival_or_date(num: str) -> bool:
    """618买的 / 6.18入手 / 10.15买的: a shopping festival or a month.day, not the price."""
    if num in _FESTIVALS:
        return True
    whole, _, part = num.partition(".")
    return bool(part) and whole.isdigit() and 1 <= int(whole) <= 12 and part.isdigit() and 1 <= int(part) <= 31


def _weak_context(before: str) -> bool:
    """Whether the money word right before a bare number is one of the weak ones (才, 要, 值 ...)."""
    stripped = before.rstrip(" 了咗我是为要")
    return any(stripped.endswith(w) for w in _WEAK) or before.endswith(tuple(_WEAK))


def _money_like_block(text: str, m: re.Match[str]) -> bool:
    """块 is a classifier as well as a currency (一块蛋糕, 两块手表): with a small Chinese numeral it
    is money only when its neighbours say so; Arabic digits and amounts with 十/百/千 are money."""
    num = m.group("num")
    if any(c.isdigit() for c in num) or any(c in "十百千万亿拾佰仟" for c in num):
        return True
    if num in ("一", "两") and not m.group("tail"):  # 凹进去一块, 一块去: a piece, together; 一块钱 says 钱
        return text[m.end("unit") : m.end("unit") + 1] == "钱" or bool(
            re.search(_STRONG_CONTEXT, text[max(0, m.start() - 6) : m.start()])
        )
    after = text[m.end("unit") : m.end("unit") + 1]
    if m.group("tail") or after in (
        "",
        "钱",
        "的",
        "了",
        "多",
        "左右",
        "，",
        "。",
        "！",
        "？",
        ",",
        ".",
        "!",
        "?",
        " ",
        "）",
        ")",
    ):
        return True
    before = text[max(0, m.start() - 6) : m.start()]
    return bool(re.search(_STRONG_CONTEXT, before))  # 加了一块玻璃: 加 alone says nothing about 块


def _longest(matches: list[MoneyMatch]) -> list[MoneyMatch]:
    chosen: list[MoneyMatch] = []
    for m in sorted(matches, key=lambda x: (-(x.end - x.start), x.start)):
        if all(m.end <= c.start or m.start >= c.end for c in chosen):
            chosen.append(m)
    return sorted(chosen, key=lambda x: x.start)
