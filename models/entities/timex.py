"""DATETIME: dates, times, relative expressions and durations, normalised to ISO 8601.

Points resolve against the request's ``received_at`` (the anchor): 昨天下午三点 -> the anchor's
date minus one day at 15:00 in the anchor's time zone; 上周五 -> Friday of the previous
calendar week (Monday-based weeks, as in Chinese usage; "last Friday" is read the same way);
3月15日 -> the anchor's year unless that is more than a month ahead of the anchor, then the
year before (complaints talk about the past); a bare day (12号) is the anchor's month unless that is
more than a week ahead, then the month before ("on the 24th" likewise); 上个月20号 is one point, and
上个月底 / 月底 / 3月底 the last day of that month; shopping festivals and holidays (618, 双十二, 元旦,
Black Friday) are dates, the digit ones (618) and the short names (中秋, 国庆) only where the words
around say so (618买的, 去年618, 618零点, 国庆后). 上上周 / "last week" are weeks (``2025-W24``); "last
Friday" in English is the latest Friday before the anchor's day, 上周五 the Friday of last calendar week.
Durations (三天, 两个小时, 一周, "48 hours", "a 14-day window") become ``{"duration": "P3D"}``; 多 (十多天,
一个多月) adds ``"approximate": true``; "a couple of days" says no number and is none, 25元一天 is a rate.
上周末 / "last weekend" is the ISO week it is in; 大年初三 / 大年三十 are days of the lunar table (春节 + 2, 除夕);
114年9月3日 is a Taiwan (ROC) year; 8/3/2025 is day first where the message names a day-first country's currency;
"half past two today" and "3pm yesterday" (the clock before its day) are one point; after a word that moves or
books something ahead (改到, 预约, "rescheduled to") a date without a year stays in the anchor's year. A Chinese month
named alone (10月份账单, 6月的账单) is that month, resolved like 3月15日; ages ("7 years old") and annual fees (300年费)
are no durations.

Without an anchor nothing is guessed: the wall clock is never used. A relative point is returned
as ``{"value": null, "relative": {"days": -1}, "time": "15:00"}`` and a date without a year as
``{"value": null, "date": "--03-15"}`` (ISO 8601 reduced form); complete dates still resolve.
Lexicon: ``time.json``.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass, field, replace
from datetime import MAXYEAR, MINYEAR, date, datetime, timedelta
from typing import Any

from models.entities.lexicon import alternation, load, may_start
from models.entities.numerals import parse_en_number, parse_number
from models.entities.region import writes_day_first

_T = load("time")
REL_DAYS: dict[str, int] = _T["relative_days"]
REL_YEARS: dict[str, int] = _T["relative_years"]
WEEK_PREFIX: dict[str, int] = _T["week_prefixes"]
MONTH_PREFIX: dict[str, int] = _T["month_prefixes"]
WEEKDAYS: dict[str, int] = _T["weekdays"]
DAY_PARTS: dict[str, list[int]] = _T["day_parts"]
MONTHS_EN: dict[str, int] = _T["months_en"]
UNITS: dict[str, str] = _T["duration_units"]
FESTIVALS: dict[str, list[int]] = _T["festivals"]
LUNAR: dict[str, dict[str, list[int]]] = _T["lunar_festivals"]
_FEST_CONTEXT: dict[str, list[str]] = _T["festival_digits_context"]
FEST_ALIASES: dict[str, str] = _T["festival_aliases"]

_ZH_REL_DAYS = alternation(k for k in REL_DAYS if not k.isascii())
_EN_REL_DAYS = alternation(k for k in REL_DAYS if k.isascii())
_ZH_PARTS = alternation(k for k in DAY_PARTS if not k.isascii())
_EN_PARTS = alternation(k for k in DAY_PARTS if k.isascii())
_EN_MONTHS = alternation(MONTHS_EN)
_EN_WEEKDAYS = alternation(k for k in WEEKDAYS if k.isascii() and k.isalpha())
_EN_FULL_WEEKDAYS = alternation(k for k in WEEKDAYS if k.isascii() and k.endswith("day"))
_EN_FULL_MONTHS = alternation(k for k in MONTHS_EN if len(k) > 3)
_PM_PARTS = frozenset({"下午", "傍晚", "晚上", "夜里", "下昼", "夜晚"})
#: The full name of each month (the longest name of its number: september, not sept): "on 3 June." ends a
#: sentence, while "Jun." / "Sept." are abbreviations and keep their dot.
_FULL_MONTH_NAMES = tuple(
    max((n for n, k in MONTHS_EN.items() if k == month), key=len) for month in sorted(set(MONTHS_EN.values()))
)
#: Definite numbers only: "a couple of days" / "a few weeks" say no length, so they are no duration (nor "ago" point).
_EN_NUM = alternation(k for k in load("numerals")["en_numbers"] if "couple" not in k)
#: What follows 5号 when it is not a day of the month: a building, a line, a battery, a seat ...
_NOT_DAY = (
    "楼|线|门|院|房|床|店|位|窗|柜|桌|车|电池|机|字|码|仓|台|口|馆|厅|公寓|屋|铺|档|馆|杆|球|选手|种子"
    # 9号检票口 / 3号登机口 / 5号站台: a gate or a platform, where 9号 stands before the word for it
    "|检票口|登机口|闸口|出口|入口|站台|车厢|候车室|展位|摊位|包厢|包间|诊室"
    # 7号收银台: a till; 3号奶粉: a formula's stage
    "|收银|奶粉|段"
)
_ZH_SMALL = r"(?:\d{1,3}|[零一二两三四五六七八九十]{1,4})"
_ZH_UNITS = "工作日|工作天|天|日|周|星期|礼拜|月|年|小时|钟头|分钟|钟"
#: What is counted after 一 in a rate (三天一包, 两小时一瓶): how often, not how long
_PER = "包瓶杯粒片颗支盒袋罐份"
_EN_UNITS = r"business days?|working days?|minutes?|mins?|hours?|hrs?|days?|weeks?|months?|years?"

# -- Chinese ------------------------------------------------------------------------------------------
#: Years of the Republic of China (民国, Taiwan's calendar): ROC 114 is 2025.
_ROC_OFFSET = 1911
#: The end of a month (上个月底, 3月底, 月尾 in Cantonese): its last day.
_MONTH_END = "底|尾|末"
#: This / last / next week or month; 呢 (Cantonese "this", 呢個月) only before 个, as the particle 呢 is everywhere.
_WEEK_PREFIX = "上上|上|这|本|今|下下|下|呢(?=个)"
_MONTH_PREFIX = "上|这|本|今|下|呢(?=个)"
_ZH_DAYSPEC = (
    rf"(?P<ymd>(?<![\d.])(?P<y1>\d{{4}})[-/.](?P<m1>\d{{1,2}})[-/.](?P<d1>\d{{1,2}})(?!\d|\.\d))"
    # 114年9月3日 / 民国114年: a year of the Republic of China (Taiwan; 114 = 2025), three digits only before a month
    rf"|(?P<cnd>(?:(?:民国(?P<roc>\d{{2,3}})|(?<!\d)(?P<roc2>1[01]\d)(?=年(?:1[0-2]|0?[1-9])月)"
    rf"|(?P<y2>\d{{4}}|[〇零一二三四五六七八九]{{4}}))年|(?P<yrel>{alternation(REL_YEARS)}))?"
    # an Arabic month is 1-12: in 4041-5988-2736-10452月8日 the month is 2, not 52
    rf"(?P<m2>1[0-2]|0?[1-9]|[一二三四五六七八九十]{{1,3}})月(?:份)?"
    rf"(?:(?P<d2>\d{{1,2}}|[一二三四五六七八九十]{{1,3}})[日号]|(?P<cmend>{_MONTH_END}))?)"
    rf"|(?P<rel>{_ZH_REL_DAYS})"
    rf"|(?P<week>(?P<wp>{_WEEK_PREFIX})?个?(?:周|星期|礼拜)(?P<wd>[一二三四五六日天末1-7])(?![一二三四五六七八九十天])"
    # 礼拜五晚 (Cantonese, Friday evening) is one span like 周五晚上; 周五晚了 / 晚点 / 晚到 say "late"
    rf"(?P<wkeve>晚(?![上了点些到发送交收回班饭餐]))?)"
    rf"|(?P<mrel>(?P<mp>{_MONTH_PREFIX})个?月(?:(?P<md>\d{{1,2}}|[一二三四五六七八九十]{{1,3}})[号日]|(?P<mend>{_MONTH_END})|初|中)?)"
    rf"|(?P<wkonly>(?P<wkp>{_WEEK_PREFIX})个?(?:周|星期|礼拜)(?![一二三四五六日天末1-7]))"
    # 月底 alone: this month's last day (每月底 / 每到月底 / 两个月底 are no point)
    rf"|(?P<bmend>(?<![每个\d一二三四五六七八九十两几])(?<!每到)月(?:{_MONTH_END}))"
    rf"|(?P<slash>(?<![\d/.])(?P<m5>1[0-2]|0?[1-9])/(?P<d5>3[01]|[12]\d|0?[1-9])(?![\d/]))"
    rf"|(?P<bday>(?<![\d月.\-/A-Za-z第路街弄巷村栋幢])(?P<bd>[12]\d|3[01]|0?[1-9]|[一二三四五六七八九十]{{1,3}})号"
    rf"(?!{_NOT_DAY}))"
    rf"|(?P<ago>(?<!第)(?P<an>{_ZH_SMALL}|半|几)(?P<amore>多)?个?(?P<amore2>多)?(?P<ahalf>半)?(?P<au>{_ZH_UNITS})(?P<adir>以前|之前|前)(?!天|年|日))"
    rf"|(?P<yronly>{alternation(REL_YEARS)})"
    rf"|(?P<yabs>(?<![\d.])(?P<y6>(?:19|20)\d{{2}})年(?![\d一二三四五六七八九十]|份|度|代|纪))"
    rf"|(?P<rocyear>民国(?P<y7>\d{{2,3}})年(?![\d一二三四五六七八九十]|份|度|代|纪))"
)
_ZH_CLOCK = (
    # not the tail of a longer number: 3000点会员点数 is a count of points, not 00点
    r"(?P<clock>(?P<h>(?<![\d.第])\d{1,2}|(?<!第)[零一二两三四五六七八九十]{1,3})点(?:钟)?"  # 第3点: an item
    # 4点整 (整 is the time's, not 整个's)
    # 三点几 (Cantonese "three-something") like 三点多
    r"(?:(?P<mi>\d{1,2}|[零一二三四五六七八九十]{1,3})分?|(?P<half>半)|(?P<q>一刻|三刻)|多|几|整(?!个))?"
    # 14:22:08: a timestamp pasted from an app keeps its seconds
    r"|(?<![\d:])(?P<h2>[01]?\d|2[0-3]):(?P<mi2>[0-5]\d)(?::(?P<s2>[0-5]\d))?(?!\d|:\d))"
)
#: Every part of a point is optional, so it matches (the empty string) everywhere; a non-empty match starts with a
#: digit, a space (before the clock), a Chinese numeral or one of the words and characters its alternatives start
#: with (民国, 去年, 昨天, 上周, 个月, 星期, 月底, 半, 几, 下午, 左右). The look-ahead skips every
#: other position, where the match could only be empty (:func:`_find_zh` skips those).
_ZH_POINT_STARTS = may_start(
    (*REL_YEARS, *(k for k in REL_DAYS if not k.isascii()), *(k for k in DAY_PARTS if not k.isascii())),
    extra=r"\d\s民〇零一二两三四五六七八九十上这本今下呢个周星礼月半几左",
)
_ZH_POINT_BODY = rf"(?:{_ZH_DAYSPEC})?(?P<part>{_ZH_PARTS})?(?:\s?{_ZH_CLOCK})?(?:左右)?"
_ZH_POINT = re.compile(_ZH_POINT_STARTS + _ZH_POINT_BODY)
#: Before a number of days: 提前 (ahead by) and 然后 (then) keep the length a length (提前一天通知, 然后两天没动).
_LEAD = frozenset({"提前", "然后", "然後"})
_ZH_DURATION = re.compile(
    # a Chinese numeral may follow digits (ZTO7852…三天没动了), an Arabic one is then part of a longer number; a lone
    # 一 after an amount is "per" ($98一个月, 1200一年: a rate, not a duration)
    rf"(?<!第)(?:(?<![\d.])|(?=[零二两三四五六七八九十百]|一[零一二两三四五六七八九十百]))"
    rf"(?P<n>\d{{1,6}}(?:\.\d{{1,3}})?|[零一二两三四五六七八九十百]{{1,6}}|半|成(?=[个粒]))(?P<more>多)?(?P<ge>个|粒)?(?P<more2>多)?"
    # 周1 is Monday, 16年10月 a month and 1小时40分钟 one length (no partial span), but 30日15GB is a 30-day plan of
    # 15GB: an Arabic number right after the unit ends the duration only where it is data or money
    # 周一 / 星期天 are weekdays, 3月一号 a date; after 天 / 小时 a 一 starts the next words (等了十天一分钱都没看到)
    # unless it says how often (三天一次, 一天一包: a rate)
    # N天前 is a point (:data:`_ZH_POINT`); N天后 / 以后 / 之后 a length, the word after it outside as 以后 is
    rf"(?P<half>半)?(?P<u>{_ZH_UNITS})(?!前|以前|之前|天|末)"
    rf"(?!(?<=[周期拜])[一二三四五六日]|(?<=月)(?<!个月)[一二三四五六七八九十]|(?<![周期拜])[二三四五六日]"
    rf"|一(?:[次回趟遍顿换]|[{_PER}]))"
    r"(?!\d(?![\d.]*\s?(?:[GMT]B?|元|块|蚊|%)))"
    r"(?P<more3>多(?![少久]))?"  # 两周多 / 一年多: 多 after the unit too (not 多少 / 多久, how much / how long)
    r"(?P<half2>(?<=[年天])半)?"  # 一年半 / 三天半: and a half
)

# -- English ------------------------------------------------------------------------------------------
_EN_DAYSPEC = (
    rf"(?P<ymd>(?<![\d.])(?P<y1>\d{{4}})-(?P<m1>\d{{1,2}})-(?P<d1>\d{{1,2}})(?!\d|\.\d))"
    rf"|(?P<us>(?<![\d/])(?P<m3>\d{{1,2}})/(?P<d3>\d{{1,2}})/(?P<y3>\d{{4}}|\d{{2}})(?![\d/]))"
    # 29-05-2025 / 29.05.2025: day first, as most of the world writes it (month first where the message is American)
    rf"|(?P<dmy>(?<![\d.\-/])(?P<d7>\d{{1,2}})(?P<sep7>[-.])(?P<m7>\d{{1,2}})(?P=sep7)(?P<y7>(?:19|20)\d{{2}})(?![\d\-/]|\.\d))"
    rf"|(?P<md>(?:{_EN_FULL_WEEKDAYS},?\s)?(?P<mn>{_EN_MONTHS})\.?\s(?P<d4>\d{{1,2}})(?:st|nd|rd|th)?\b(?:,?\s(?P<y4>\d{{4}}))?)"
    rf"|(?P<dm>(?:\b{_EN_FULL_WEEKDAYS},?\s(?:the\s)?)?\b(?P<d5>\d{{1,2}})(?:st|nd|rd|th)?\s(?:of\s)?(?P<mn5>{_EN_MONTHS})\.?(?:,?\s(?P<y5>\d{{4}}))?)"
    rf"|(?P<rel>{_EN_REL_DAYS})(?:\s(?P<relpart>{_EN_PARTS}))?"
    rf"|(?P<week>\b(?P<wp>last|this|next)\s(?P<wd>{_EN_WEEKDAYS}))(?:\s(?P<weekpart>{_EN_PARTS}))?"
    rf"|(?P<unitrel>\b(?P<up>last|this|next)\s(?P<uu>weekend|week|month|year)\b)"
    # "2 hours later" is after an event, not the message
    rf"|(?P<ago>\b(?P<an>\d+|{_EN_NUM})\s(?P<au>{_EN_UNITS}|fortnights?)\s(?P<adir>ago))"
    rf"|(?P<bwd>\b(?P<bw>{_EN_FULL_WEEKDAYS})\b)(?:\s(?P<bwpart>{_EN_PARTS}))?"
    # "on 8/9": a month and a day without a year after "on" (month first unless the message writes the day first)
    # "on 31/10": a first number that cannot be a month is the day (Britain, Australia)
    r"|(?P<onmd>(?<=\bon\s)(?:(?P<m9>1[0-2]|0?[1-9])/(?P<d9>3[01]|[12]\d|0?[1-9])|(?P<d9b>1[3-9]|2\d|3[01])/(?P<m9b>1[0-2]|0?[1-9]))"
    r"(?![\d/]|\.\d|\s?(?:stars?|points?)\b))"
)
_EN_HOURS = {w: n for w, n in load("numerals")["en_words"]["units"].items() if 1 <= n <= 12}
#: Minutes of a clock said in words: "half past two", "quarter to five", "ten past six", "three o'clock".
_EN_CLOCK_MINUTES = {"half": 30, "quarter": 15, "a quarter": 15, "five": 5, "ten": 10, "twenty": 20, "twenty-five": 25}
#: "to" only after a quarter: "five to ten", "7 to 10 days", "10 minutes to one hour" are ranges far more often.
_EN_WORD_CLOCK = (
    rf"(?P<wclock>\b(?:(?:(?P<wm>{alternation(_EN_CLOCK_MINUTES)}|[1-5]?\d)(?:\sminutes)?\s(?:past|after)"
    r"|(?P<wq>(?:a\s)?quarter)\sto)\s"
    rf"(?P<wh>{alternation(_EN_HOURS)}|1[0-2]|0?[1-9])|(?P<oh>{alternation(_EN_HOURS)}|1[0-2]|0?[1-9])\so'?clock)\b"
    r"(?!\s(?:hours?|hrs?|minutes?|mins?|days?|weeks?|months?|years?)\b)"  # 30 minutes after 2 hours: no clock
    r"(?:\s?(?P<wap>a\.m\.|p\.m\.|am\b|pm\b)|\s(?P<wpart>in\sthe\s(?:morning|afternoon|evening)|at\snight)\b)?)"
)
#: Minutes said after the hour in words ("two thirty", "eleven o five").
_EN_SPOKEN_MINUTES = {"o five": 5, "oh five": 5, "ten": 10, "fifteen": 15, "twenty": 20, "twenty-five": 25}
_EN_SPOKEN_MINUTES |= {"thirty": 30, "thirty-five": 35, "forty": 40, "forty-five": 45, "forty five": 45, "fifty": 50}
_EN_CLOCK = (
    r"(?P<clock>\b(?P<h>1[0-2]|0?[1-9])(?:[:.](?P<mi>[0-5]\d))?\s?(?P<ap>a\.m\.|p\.m\.|am\b|pm\b)"
    rf"|(?<![\d:])(?P<h2>[01]?\d|2[0-3]):(?P<mi2>[0-5]\d)(?::(?P<s2>[0-5]\d))?(?!\d|:\d)|\b(?P<noon>noon|midnight)\b|{_EN_WORD_CLOCK}"
    # "last night at 7.45": a dot between hour and minute (Britain, Australia), only after "at" and a day
    r"|(?<=at\s)(?P<h3>[01]?\d|2[0-3])\.(?P<mi3>[0-5]\d)(?![\d.%]|\.\d|\s?(?:each|per|a\s|an\s))"
    # "at two thirty" / "at seven forty-five pm": the hour and its minutes in words, only after "at" (transcripts)
    rf"|(?<=at\s)(?P<sh>{alternation(_EN_HOURS)})\s(?P<sm>{alternation(_EN_SPOKEN_MINUTES)})(?![\w-])"
    r"(?:\s?(?P<sap>a\.m\.|p\.m\.|am\b|pm\b))?)"
)
#: As :data:`_ZH_POINT`, every part is optional; a non-empty match starts with a space (``conn``), a digit after no
#: digit (each alternative that starts with a digit has ``\b`` or a look-behind for a digit before it) or a Latin
#: letter after no Latin letter (``\b`` or :func:`~models.entities.lexicon.alternation`'s look-behind): the
#: look-ahead skips every other position, where the match could only be empty.
_EN_POINT_STARTS = r"(?=\s|(?<!\d)\d|(?<![A-Za-z])[A-Za-z])"
_EN_POINT_BODY = rf"(?:{_EN_DAYSPEC})?(?P<conn>\s(?:at|around|about)\s|\s)?(?:{_EN_CLOCK})?"
_EN_POINT = re.compile(_EN_POINT_STARTS + _EN_POINT_BODY, re.IGNORECASE)
_EN_DURATION = re.compile(
    # "a 4-day trip", "the 14-day window": the hyphenated length is a duration too
    # "6 times a day" / "twice a week": how often, not how long
    rf"(?:\b(?<!times\s)(?<!twice\s)(?<!once\s)(?P<n>\d+(?:\.\d+)?|{_EN_NUM})(?:\s(?:more\s|full\s|whole\s)?|-)"
    rf"(?P<u>{_EN_UNITS}|fortnights?)\b"
    r"(?!-old|\s(?:high|low)\b)"  # a 6-year-old, a 52-week high: an age, a price record
    rf"(?P<andhalf>\sand\sa\shalf\b)?(?!\s+ago)(?!\s+(?:old|of\sage)\b)"  # my son is 7 years old: an age
    # 6 hours 20 minutes / 2 hrs and 15 mins: one length, as 1小时40分钟 is
    r"(?:(?:(?<=hours)|(?<=hour)|(?<=hrs)|(?<=hr))(?P<mins>,?\s(?:and\s)?(?P<mn>[1-5]?\d)\s(?:minutes?|mins?)\b(?!\s+ago)))?"
    rf"|\b(?P<halfhour>half an hour)\b)",
    re.IGNORECASE,
)
#: A month named alone after a preposition ("in July", "now October"): the month (grain month).
_EN_MONTH_ONLY = re.compile(
    # May only capitalised: "it may" / "in may be" are the verb
    rf"\b(?:in|since|during|now|of|until|by|from|for|early|late|mid)[\s-](?P<mo>{_EN_FULL_MONTHS}|(?-i:May))\b(?![\s.]*\d)",
    re.IGNORECASE,
)
#: A day of the month alone, as an ordinal after a preposition ("on the 24th", "for the 3rd, please"), like 12号:
#: only where the sentence goes on with a pause or a function word, as "the 3rd floor" / "the 2nd time" are no dates.
_EN_BARE_DAY = re.compile(
    r"\b(?:on|by|for|since|until|till|til|to|through|before|after|from|around)\s"
    r"the\s(?P<day>(?P<d>[12]\d|3[01]|0?[1-9])(?:st|nd|rd|th)\b)"  # "the" is outside the span (guideline)
    rf"(?P<at>\s(?:at|around|about)\s{_EN_CLOCK})?"
    r"(?=\s*(?:[,.;:!?)]|$)|\s(?:and|or|but|when|so|because|to|as|then|which|with|they|we|i|it|he|she|you|my|is|was"
    r"|please|this|last|next|even|though|although|while|since|until|till|after|before|yet|if|not|instead|already|again"
    r"|our|your|their|me|us|for|from|without|under|in|at|on|that)\b)",
    re.IGNORECASE,
)
#: "end of last month", "the end of March": the month's last day (like 上个月底); the article before it is outside.
_EN_MONTH_END = re.compile(
    rf"\bend\sof\s(?:(?P<rel>last|this|next)\smonth|(?:the\s)?month|(?P<mo>{_EN_FULL_MONTHS})(?:,?\s(?P<y>(?:19|20)\d{{2}}))?)\b",
    re.IGNORECASE,
)
#: "In 2025." / "since 2019, ...": a year alone after a preposition, where the sentence goes on with a pause or a
#: function word ("in 2025 dollars", "in 2025 Main St" are no years).
_EN_YEAR = re.compile(
    r"\b(?:in|since|during|until|till|before|after|from|by)\s(?P<y>(?:19|20)\d{2})"
    r"(?=\s*(?:[,.;:!?)]|$)|\s(?:and|or|but|when|so|because|as|then|which|with|they|we|i|it|he|she|you|my|already"
    r"|still|too|either|yet|alone)\b)",
    re.IGNORECASE,
)
_FEST_WORDS = [*FESTIVALS, *LUNAR, *FEST_ALIASES]
#: After a festival's name, things named after it: 圣诞大餐, 圣诞礼物, 中秋月饼, 圣诞树, 圣诞老人.
_FEST_THING = re.compile(r"大餐|套餐|礼物|礼盒|礼品|月饼|树|老人|装饰|歌|贺卡|限定|款")
_FEST_RE = re.compile(
    # a match starts with a year word, last / this / next after no letter (\b), or the name after no letter
    rf"{may_start([*REL_YEARS, 'last', 'this', 'next', *_FEST_WORDS])}"
    rf"(?:(?P<yrel>{alternation(REL_YEARS)})|\b(?P<eyrel>last|this|next)\s)?"
    rf"(?<![\d.A-Za-z])(?P<name>{alternation(_FEST_WORDS)})(?![\d%A-Za-z元块号室楼米克]|\.\d)",
    re.IGNORECASE,
)
#: 除夕中午 / 春节晚上 / 双11零点 / 双十一凌晨一点: a festival and a part of its day, a clock time or both are one span.
_FEST_TIME = re.compile(rf"(?P<part>{_ZH_PARTS})?{_ZH_CLOCK}|(?P<part2>{_ZH_PARTS})")
#: 国庆前天 / 王国庆后来: 前 and 后 that start another word say nothing about the festival.
_NOT_FEST_AFTER = re.compile("[前后][天台面边门头来]")
_FEST_NOT_BEFORE = alternation(_T["festival_not_before"])
#: 5小时40分钟 / 一个小时零五分: hours and minutes, one length (as "6 hours 20 minutes" is)
_ZH_HOURS_MINUTES = re.compile(
    r"(?<![\d.])(?P<h>\d{1,2}|[一二两三四五六七八九十]{1,3})个?(?:小时|钟头)零?"
    r"(?P<mi>\d{1,2}|[一二三四五六七八九十]{1,3})分(?:钟)?"
)
#: Cantonese 個半鐘 (an hour and a half, 一 dropped): 个半 + a unit, with no number before it.
_ZH_GE_HALF = re.compile(rf"(?<![\d零一二两三四五六七八九十百几多])个半(?P<u>{_ZH_UNITS})")
_FEST_BEFORE = alternation(_FEST_CONTEXT["before"])
_FEST_AFTER = alternation(_FEST_CONTEXT["after"])
#: Days of the first lunar month (大年初三, 正月十五) and New Year's Eve (大年三十): counted from 春节 / 除夕 in the
#: per-year table. 初三 alone is also a school year, so the month must be named, or the New Year (春节, 过年 ...)
#: elsewhere in the message (春节前就该到的，结果初七才送来).
_LUNAR_DAY = re.compile(
    rf"(?:(?P<yrel>{alternation(REL_YEARS)}))?(?:(?:大年|正月|(?P<bare>(?=初)))"
    r"(?P<day>初[一二三四五六七八九十]|十[一二三四五六七八九]?"
    r"|二十[一二三四五六七八九]?|廿[一二三四五六七八九])|(?P<eve>大年三十|大年夜))(?![一二三四五六七八九十])"
)
#: 3-6到3-8: month-day written with a hyphen, read only as both ends of a range (3-5 alone is a count range).
_ZH_DASH_RANGE = re.compile(
    r"(?<![\d\-/.:A-Za-z])(?P<m1>1[0-2]|0?[1-9])-(?P<d1>3[01]|[12]\d|0?[1-9])\s?(?:到|至|~|～|—)\s?"
    r"(?P<m2>1[0-2]|0?[1-9])-(?P<d2>3[01]|[12]\d|0?[1-9])(?![\d\-/.:]|[个天日号周月年小分秒次倍件岁度])"
)
#: 25元一天 / $98一个月: a lone 一 right after an amount is "per" (a rate), no duration ...
_AFTER_AMOUNT = re.compile(r"[\d零一二两三四五六七八九十百千万几]\s?(?:元|块|块钱|蚊|毛|角|刀|美金|港币|港纸)?\s?$")
#: ... unless what follows says how long it took (39块一天就坏了, 花了200一个月都没用完).
_HOW_LONG_AFTER = re.compile(r"(?:就|没|都|了|内|之内|以内|不到|才|还)")
#: A word that moves or books something ahead, right before a date without a year (改咗去7月15號, 推迟到, 约了,
#: rescheduled to): the date is in the anchor's year even when more than 31 days ahead (guideline).
_AHEAD_CUE = re.compile(
    r"(?:(?:改期|改签|延期|推迟|延迟|延后|押后|顺延|推后|挪|改|调)(?:了|咗)?(?:去|到|至|成|为|在)"
    # 约了 / 约好 / 约在 book, but 约 alone and 大约 are "about" (大约12月20号下的单 is in the past)
    r"|(?:改期|延期|推迟|延后|押后|顺延)(?:了|咗)?|预约(?:了|咗)?(?:在|到)?|(?<!大)约(?:了|咗|好|在|到)(?:在|到)?"
    r"|\b(?:rescheduled|postponed|moved|pushed back|delayed|booked in)\s(?:to|for|until|till)"
    r"(?:\s(?:the|on))?)\s?$",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Timex:
    start: int
    end: int
    # absolute parts
    year: int | None = None
    month: int | None = None
    day: int | None = None
    # relative parts
    relative: dict[str, float] = field(default_factory=dict)  # days / weeks / months / years / hours / minutes
    weekday: int | None = None  # 1 = Monday
    grain: str = "day"
    hour: int | None = None
    minute: int | None = None
    second: int | None = None  # a pasted timestamp's (交易时间：2026-03-05 14:22:08)
    duration: str | None = None
    approximate: bool = False
    confidence: float = 0.93
    nth: tuple[int, int, int, int] | None = None  # festival on the n-th weekday of a month (see time.json)
    before_today: bool = False  # English "last Friday": the latest Friday before the anchor's day
    lunar: str | None = None  # a festival of the Chinese calendar (中秋节): its date is looked up per year
    month_end: bool = False  # 月底 / 上个月底 / 3月底: the last day of the month
    lunar_offset: int = 0  # 大年初三: days after the lunar festival (春节 + 2)
    ahead: bool = False  # after 改到 / 预约 / "rescheduled to": a date without a year may be over a month ahead

    def normalized(self, anchor: datetime | None) -> dict[str, Any]:
        if self.duration is not None:
            out: dict[str, Any] = {"duration": self.duration}
            if self.approximate:
                out["approximate"] = True
            return out
        return _resolve(self, anchor)


# -- parsing helpers -------------------------------------------------------------------------------------
def _zh_int(text: str | None) -> int | None:
    if not text:
        return None
    value = parse_number(text)
    return int(value) if value is not None else None


def _hour_for_part(hour: int, part: str | None) -> int:
    if part is None:
        return hour
    lo, hi = DAY_PARTS[part]
    if hour < 12 and lo >= 12:  # 下午3点, 晚上8点
        return hour + 12
    if part in ("中午", "noon") and hour < 6:
        return hour + 12
    if hour == 12 and hi > 24:  # 半夜12点
        return 0
    return hour


def _units_to_iso(n: float, unit: str) -> str:
    """``(1.5, "H") -> "PT1H30M"``: halves move to the next smaller unit, as ISO 8601 prefers integers."""
    if unit == "W" and n != int(n):
        n, unit = n * 7, "D"
    if unit == "Y" and n != int(n):  # 一年半: P1Y6M; 半年: P6M
        whole, months = int(n), round((n - int(n)) * 12)
        return f"P{whole}Y{months}M" if whole else f"P{months}M"
    if unit == "M" and n != int(n):
        whole, frac = int(n), n - int(n)
        return f"P{whole}M{round(frac * 30)}D" if whole else f"P{round(frac * 30)}D"
    if unit == "D" and n != int(n):
        whole, frac = int(n), n - int(n)
        return (f"P{whole}DT{round(frac * 24)}H") if whole else f"PT{round(frac * 24)}H"
    if unit == "H" and n != int(n):
        whole, frac = int(n), n - int(n)
        return (f"PT{whole}H{round(frac * 60)}M") if whole else f"PT{round(frac * 60)}M"
    value = int(n) if n == int(n) else n
    if unit in ("H", "MIN", "S"):
        return f"PT{value}{'M' if unit == 'MIN' else unit}"
    return f"P{value}{unit}"


def _relative_key(unit: str) -> str:
    return {"D": "days", "W": "weeks", "M": "months", "Y": "years", "H": "hours", "MIN": "minutes", "S": "seconds"}[
        unit
    ]


# -- finders -----------------------------------------------------------------------------------------------
def find_times(text: str, lang: str, region: str = "cn") -> list[Timex]:
    """All DATETIME expressions in a normalised text (longest wins where they overlap).

    ``region`` ``hk``: a number of 日 is a duration (三日 = three days, Cantonese), as it is elsewhere
    only before 内 (7日内).
    """
    found = _find_zh(text, region) if lang != "en" else []
    if lang != "zh" or re.search(r"[A-Za-z]{3}", text):
        found += _find_en(text)
    found += _find_festivals(text) + _find_lunar_days(text)
    chosen: list[Timex] = []
    for t in sorted(found, key=lambda x: (-(x.end - x.start), x.duration is not None, x.start)):
        if all(t.end <= c.start or t.start >= c.end for c in chosen):
            chosen.append(_ahead(t, text) if t.day is not None and t.year is None and not t.relative else t)
    return sorted(chosen, key=lambda x: x.start)


def _ahead(t: Timex, text: str) -> Timex:
    """``t`` marked as a date ahead where a word that moves or books something stands right before it."""
    return replace(t, ahead=True) if _AHEAD_CUE.search(text[max(0, t.start - 24) : t.start]) else t


def _find_festivals(text: str) -> list[Timex]:
    """618, 双十二, 元旦, Black Friday ... (with 去年 / last before them): dates, resolved like 3月15日."""
    out: list[Timex] = []
    for m in _FEST_RE.finditer(text):
        if _FEST_THING.match(text, m.end()):
            continue  # 圣诞大餐 / 中秋月饼 / 圣诞树: a thing named after the festival, not its day
        name = m.group("name").lower()
        name = FEST_ALIASES.get(name, name)  # 中秋 is 中秋节
        rel: dict[str, float] = {}
        if m.group("yrel"):
            rel["years"] = REL_YEARS[m.group("yrel")]
        elif m.group("eyrel"):
            rel["years"] = {"last": -1, "this": 0, "next": 1}[m.group("eyrel").lower()]
        time = _festival_time(text, m.end())
        needs_words = m.group("name") in FEST_ALIASES or name.replace(".", "").isdigit()
        if needs_words and not _festival_words_around(text, m, time is not None and time[1] is not None):
            continue  # a bare 618 is a room, a price or a code, 国庆 a name or a road, unless the words say otherwise
        end, hour, minute = time if time is not None else (m.end(), None, None)
        if name in LUNAR:
            out.append(Timex(m.start(), end, relative=rel, lunar=name, confidence=0.9, hour=hour, minute=minute))
            continue
        key = next(k for k in FESTIVALS if k.lower() == name)
        spec = FESTIVALS[key]
        nth = (spec[0], spec[1], spec[2], spec[3]) if len(spec) == 4 else None
        day = None if nth else spec[1]
        out.append(
            Timex(
                m.start(), end, month=spec[0], day=day, relative=rel, nth=nth, confidence=0.9, hour=hour, minute=minute
            )
        )
    return out


#: Words of the Chinese New Year (not 三年前: a number of years ago).
_NEW_YEAR = re.compile(r"春节|过年|新年|(?<![\d一二两三四五六七八九十几多])年[前后]|正月|拜年|除夕|年三十|大年")


def _find_lunar_days(text: str) -> list[Timex]:
    """大年初三 / 正月十五 / 大年三十 (with 去年 before them and a time after): dates of the lunar calendar."""
    out: list[Timex] = []
    for m in _LUNAR_DAY.finditer(text):
        if m.group("bare") is not None and (not m.group("day").startswith("初") or not _NEW_YEAR.search(text)):
            continue  # 初三 alone: a school year, unless the message speaks of the New Year
        rel: dict[str, float] = {"years": REL_YEARS[m.group("yrel")]} if m.group("yrel") else {}
        if m.group("eve"):
            name, offset = "除夕", 0
        else:
            day = m.group("day").replace("初", "").replace("廿", "二十")
            name, offset = "春节", int(parse_number(day) or 1) - 1
        time = _festival_time(text, m.end())
        end, hour, minute = time if time is not None else (m.end(), None, None)
        out.append(
            Timex(
                m.start(), end, relative=rel, lunar=name, lunar_offset=offset, confidence=0.9, hour=hour, minute=minute
            )
        )
    return out


def _festival_time(text: str, pos: int) -> tuple[int, int | None, int | None] | None:
    """The part of the day and / or clock time right after a festival (双十一凌晨一点): its end, hour and minute."""
    m = _FEST_TIME.match(text, pos)
    if m is None or m.end() == pos:
        return None
    if m.group("part2"):
        return m.end(), None, None  # 除夕中午: the day, no hour
    part = m.group("part")
    if not part and _lone_small_hour(m):
        return None  # 双11一点都不便宜
    clock = _zh_clock(m, part)
    return (m.end(), *clock) if clock is not None else None


def _festival_words_around(text: str, m: re.Match[str], clock_after: bool) -> bool:
    """Whether the words around a festival name that is also something else make it the festival.

    A year word before it (去年618), a festival word before or after it (趁618, 618买的, 国庆后), or a clock time
    right after it (618零点) do; a place word after it (国庆路) never does.
    """
    after = text[m.end() : m.end() + 4]
    if re.match(_FEST_NOT_BEFORE, after):
        return False
    return bool(
        m.group("yrel")
        or clock_after
        or re.search(f"{_FEST_BEFORE}$", text[max(0, m.start() - 3) : m.start()])
        or (re.match(_FEST_AFTER, after) and not _NOT_FEST_AFTER.match(after))
    )


#: 我今年45岁: this year only says when the age is; 12排25、26号 / 12行8号同9号: seats; 累积16点: points.
_AGE_AFTER = re.compile(r"\s?\d{1,3}\s?(?:岁|周岁)")
_SEAT_BEFORE = re.compile(r"\d+\s?(?:排|行)")
_POINTS_BEFORE = re.compile(r"点数|积分|累积|累计|累積|累計")


def _not_a_point(text: str, m: re.Match[str], has_day: bool) -> bool:
    """Whether a :data:`_ZH_POINT` match is no time: a year word that dates an age, a seat, a count of points."""
    if m.group("yronly") and m.end() == m.end("yronly") and _AGE_AFTER.match(text, m.end()):
        return True
    window = text[max(0, m.start() - 8) : m.start()]
    if m.group("bday") and not m.group("clock") and _SEAT_BEFORE.search(window):
        return True
    return bool(m.group("clock") and not has_day and _POINTS_BEFORE.search(window))


def _find_zh(text: str, region: str = "cn") -> list[Timex]:
    out: list[Timex] = []
    last_pm: int | None = None  # hour of the last clock time said with an afternoon or evening word
    for m in _ZH_POINT.finditer(text):
        if m.end() == m.start():
            continue
        has_day = any(
            m.group(g)
            for g in (
                "ymd",
                "cnd",
                "rel",
                "week",
                "mrel",
                "wkonly",
                "slash",
                "bday",
                "ago",
                "yronly",
                "yabs",
                "rocyear",
                "bmend",
            )
        )
        clock = m.group("clock")
        if not has_day and not clock:
            continue
        if clock and not has_day and _lone_small_hour(m):
            continue  # 一点 alone is "a little" far more often than one o'clock
        if _not_a_point(text, m, has_day):
            continue
        t = _zh_point(m)
        if t is not None and t.hour is not None:
            if m.group("part") in _PM_PARTS or m.group("wkeve"):
                last_pm = t.hour
            elif clock and not has_day and not m.group("part") and last_pm is not None and last_pm <= t.hour + 12 < 24:
                t = replace(t, hour=t.hour + 12)  # 晚上六点半下的单，七点五十才送到: still the evening
        if t is not None:
            end = m.end()
            if text[m.start() : end].endswith("左右"):
                end -= 2
            start = m.start() + len(text[m.start() : end]) - len(text[m.start() : end].lstrip())
            out.append(_with_span(t, start, end))  # " 8:00" after a word: the clock alone, not its space
    for m in _ZH_DASH_RANGE.finditer(text):
        for mo, dd in (("m1", "d1"), ("m2", "d2")):
            out.append(Timex(m.start(mo), m.end(dd), month=int(m.group(mo)), day=int(m.group(dd)), confidence=0.85))
    for m in _ZH_HOURS_MINUTES.finditer(text):
        hours, minutes = parse_number(m.group("h")), parse_number(m.group("mi"))
        if hours is not None and minutes is not None and minutes < 60:
            out.append(Timex(m.start(), m.end(), duration=f"PT{int(hours)}H{int(minutes)}M", confidence=0.9))
    for m in _ZH_GE_HALF.finditer(text):
        out.append(Timex(m.start(), m.end(), duration=_units_to_iso(1.5, UNITS[m.group("u")]), confidence=0.85))
    for m in _ZH_DURATION.finditer(text):
        unit_word = m.group("u")
        n_text = m.group("n")
        if unit_word == "月" and not m.group("ge") and n_text != "半":
            continue  # 3月 is March; a duration needs 个 (三个月)
        if unit_word == "年" and (len(n_text) == 4 or re.fullmatch(r"1[01]\d", n_text)):
            continue  # 2024年, 113年度 (a Taiwan ROC year, 2024): a year, no wait of a century
        following = text[m.end() : m.end() + 1]
        if unit_word == "年" and not m.group("ge") and following in ("费", "薪"):
            continue  # 被扣了300年费 / 30年薪: an annual fee or salary, the amount is money
        if unit_word in ("周", "星期", "礼拜") and following and following in "一二三四五六日天末":
            continue  # 礼拜五 is Friday, not a duration (at the end of the text nothing follows)
        if unit_word == "日" and region != "hk" and n_text.isdigit() and following not in ("内", "以", "之"):
            continue  # 11日 is a day of the month on the mainland and in Taiwan; 三日 / 7日内 are days
        if (
            n_text == "一"
            and _AFTER_AMOUNT.search(text[max(0, m.start() - 4) : m.start()])
            and not _HOW_LONG_AFTER.match(text, m.end())
        ):
            continue  # 25元一天的流量包: a rate (per day), not a duration
        if n_text == "一" and re.match(
            r"[交付缴收花要]?(?:\d|(?<=[交付缴收花要])[一二两三四五六七八九十百千万])", text[m.end() : m.end() + 2]
        ):
            continue  # 物业费一年交4680 / 管理费一个月3,200: a rate (per year, per month), not a duration
        if (
            n_text == "一"
            and unit_word in ("天", "日")
            and m.start()
            and text[m.start() - 1] in "前后後"
            and text[max(0, m.start() - 2) : m.start()] not in _LEAD
        ):
            # 入住前一日 / 到货后一天 / 最后一天: the day before or after an event, not a length (起飞前两小时 and
            # 提前一天 are lengths)
            continue
        if unit_word == "钟" and not m.group("ge"):
            continue  # 两个钟 / 两粒钟 (two hours) but 三点钟 is a clock time
        n = 0.5 if n_text == "半" else 1.0 if n_text == "成" else parse_number(n_text)
        if n is None:
            continue
        if m.group("half") or m.group("half2"):
            n += 0.5
        out.append(
            Timex(
                m.start(),
                m.end(),
                duration=_units_to_iso(n, UNITS[unit_word]),
                approximate=bool(m.group("more") or m.group("more2") or m.group("more3")),
                confidence=0.9,
            )
        )
    return out


def _lone_small_hour(m: re.Match[str]) -> bool:
    hour = m.group("h")
    if m.group("part") or not hour or hour.isdigit():
        return False
    return _zh_int(hour) in (None, 1) and not (m.group("half") or m.group("mi") or m.group("q"))


def _with_span(t: Timex, start: int, end: int) -> Timex:
    return replace(t, start=start, end=end)


def _zh_point(m: re.Match[str]) -> Timex | None:
    year = month = day = None
    rel: dict[str, float] = {}
    weekday = None
    grain = "day"
    month_end = False
    part = m.group("part") or ("晚上" if m.group("wkeve") else None)
    if m.group("ymd"):
        year, month, day = int(m.group("y1")), int(m.group("m1")), int(m.group("d1"))
    elif m.group("cnd"):
        y2 = m.group("y2")
        year = int(parse_number(y2) or 0) if y2 else None
        if m.group("yrel"):
            rel["years"] = REL_YEARS[m.group("yrel")]
        month, day = _zh_int(m.group("m2")), _zh_int(m.group("d2"))
        month_end = bool(m.group("cmend"))
        if day is None and not month_end:
            grain = "month"
        roc = m.group("roc") or m.group("roc2")
        if roc:
            year = int(roc) + _ROC_OFFSET
        if year is None and day is None and not rel and not month_end and not _month_alone(m):
            return None  # 3月 alone, where it is no month named (3月一次, 12月龄)
    elif m.group("rel"):
        word = m.group("rel")
        rel["days"] = REL_DAYS[word]
        if part is None and word[-1] in "晚夜":
            part = "晚上"
        elif part is None and word[-1] in "早晨朝":
            part = "早上"
    elif m.group("week"):
        weekday = WEEKDAYS[m.group("wd")]
        prefix = m.group("wp")
        if prefix is not None:
            rel["weeks"] = WEEK_PREFIX[prefix]
            if m.group("wd") == "末" and not m.group("clock"):  # 上周末: that ISO week (guideline); at a time, Saturday
                weekday, grain = None, "week"
    elif m.group("mrel"):
        rel["months"] = MONTH_PREFIX[m.group("mp")]
        day = _zh_int(m.group("md"))
        month_end = bool(m.group("mend"))
        if day is None and not month_end:
            grain = "month"  # 上个月 / 上个月初: the month
    elif m.group("bmend"):
        month_end = True
    elif m.group("wkonly"):
        rel["weeks"] = WEEK_PREFIX[m.group("wkp")]
        grain = "week"
    elif m.group("slash"):
        month, day = int(m.group("m5")), int(m.group("d5"))
    elif m.group("bday"):
        day = _zh_int(m.group("bd"))
    elif m.group("ago"):
        n_text = m.group("an")
        if n_text == "几":
            return None
        n = 0.5 if n_text == "半" else parse_number(n_text)
        if n is None:
            return None
        if m.group("ahalf"):
            n += 0.5
        unit = UNITS[m.group("au")]
        if n != int(n) and unit in ("W", "M", "Y"):  # 半个月前: 15 days, as _units_to_iso reads half a month
            n, unit = round(n * {"W": 7, "M": 30, "Y": 365}[unit]), "D"
        rel[_relative_key(unit)] = -n  # N天前: only 前 makes a point (N天后 is a length)
        grain = "minute" if unit in ("H", "MIN", "S") else "day"
    elif m.group("yronly"):
        rel["years"] = REL_YEARS[m.group("yronly")]
        grain = "year"
    elif m.group("yabs"):  # 2025年生产的: the year alone
        year = int(m.group("y6"))
        grain = "year"
    elif m.group("rocyear"):  # 民国114年
        year = int(m.group("y7")) + _ROC_OFFSET
        grain = "year"
    hour = minute = None
    if m.group("clock"):
        clock = _zh_clock(m, part)
        if clock is None:
            return None
        hour, minute = clock
        grain = "minute"
    if (month is not None and not 1 <= month <= 12) or (day is not None and not 1 <= day <= 31):
        return None
    second = int(m.group("s2")) if m.group("clock") and m.group("s2") else None
    return Timex(0, 0, year, month, day, rel, weekday, grain, hour, minute, second=second, month_end=month_end)


#: Before a month number that names no month: a longer number, a model, an ordinal, "every", a count (个); and
#: before a bare one (no 份), a length (保修12月, 分12月还, 近3月).
_NOT_MONTH_BEFORE = re.compile(r"[\dA-Za-z.\-/第每几个多]$")
_LENGTH_BEFORE = re.compile(r"(?:保修|质保|保质期?|有效期|分|共|满|近|前|头|连续|整整|足足)$")
#: After a bare month (no 份, no day) where it is a count or a length, not the month: 3月以上, 6月龄, 12月期, 3月一次,
#: 十月怀胎.
_NOT_MONTH_AFTER = re.compile(r"[\d二三四五六七八九十半多以之内期龄大租费薪供息次号日怀]|一[次期回趟换]|左右")


def _month_alone(m: re.Match[str]) -> bool:
    """10月份账单 / 6月的账单: a Chinese month named alone is that month (guideline), 份 or not; without 份, not where
    the words around make it a count or a length, and 一月 (also "one month") only with 份."""
    text, start, end = m.string, m.start("m2"), m.end("cnd")
    if m.group("clock") or m.group("part") or _NOT_MONTH_BEFORE.search(text, max(0, start - 1), start):
        return False
    if text[start:end].endswith("份"):
        return True
    return (
        m.group("m2") != "一"
        and not _LENGTH_BEFORE.search(text, max(0, start - 4), start)
        and not _NOT_MONTH_AFTER.match(text, end)
    )


def _zh_clock(m: re.Match[str], part: str | None) -> tuple[int, int] | None:
    """Hour and minute of a matched :data:`_ZH_CLOCK`, read with the part of the day before it (None: no time)."""
    hour: int | None
    if m.group("h2"):
        hour, minute = int(m.group("h2")), int(m.group("mi2"))
    else:
        hour = _zh_int(m.group("h"))
        minute = (
            30
            if m.group("half")
            else 15
            if m.group("q") == "一刻"
            else 45
            if m.group("q")
            else _zh_int(m.group("mi")) or 0
        )
    if hour is None or hour > 24 or minute > 59:
        return None
    return _hour_for_part(hour, part) % 24, minute


def _find_en(text: str) -> list[Timex]:
    # 8/3/2025 is 8 March outside the US: the country the message names (its currency) says which comes first
    day_first = writes_day_first(text)
    out: list[Timex] = []
    for m in _EN_POINT.finditer(text):
        if m.end() == m.start():
            continue
        clock = m.group("clock")
        has_day = m.group("conn") is None or m.start("conn") > m.start()
        if (not clock and not has_day) or (m.group("h3") and not has_day):
            continue  # "at 4.99" alone is a price as often as a time: the dot clock only after its day
        t = _en_point(m, day_first)
        if t is None:
            continue
        start, end = m.start(), m.end()
        if not clock and m.group("conn") is not None:
            end = m.start("conn")  # "yesterday " without a time after it
        elif not has_day:
            start = m.start("clock")
        if text[start:end].endswith(".") and text[start:end][:-1].lower().endswith(_FULL_MONTH_NAMES):
            end -= 1  # "on 28 January." ends a sentence; only "Jan." takes its dot
        out.append(_with_span(t, start, end))
    out = _clock_then_day(out, text)
    for m in _EN_DURATION.finditer(text):
        if m.group("halfhour"):
            out.append(Timex(m.start(), m.end(), duration="PT30M", confidence=0.9))
            continue
        if m.group("n").lower() in ("a", "an", "one") and re.search(r"\d\s?$", text[max(0, m.start() - 2) : m.start()]):
            continue  # £96 a month, $45 a night: a rate, not a duration
        n = parse_en_number(m.group("n"))
        unit = UNITS.get(m.group("u").lower())
        if n is None or unit is None:
            continue
        if unit == "F":  # a fortnight
            n, unit = n * 2, "W"
        if m.group("andhalf"):
            n += 0.5
        if m.group("mins") and unit == "H" and n == int(n):
            out.append(Timex(m.start(), m.end(), duration=f"PT{int(n)}H{int(m.group('mn'))}M", confidence=0.9))
            continue
        out.append(Timex(m.start(), m.end(), duration=_units_to_iso(n, unit), confidence=0.9))
    for m in _EN_MONTH_ONLY.finditer(text):
        month = MONTHS_EN[m.group("mo").lower()]
        out.append(Timex(m.start("mo"), m.end("mo"), month=month, grain="month", confidence=0.85))
    for m in _EN_BARE_DAY.finditer(text):
        hour, minute = _en_clock(m) if m.group("at") else (None, None)
        grain = "day" if hour is None else "minute"
        out.append(Timex(m.start("day"), m.end(), day=int(m.group("d")), grain=grain, hour=hour, minute=minute))
    for m in _EN_MONTH_END.finditer(text):
        rel = {"months": float(WEEK_PREFIX[m.group("rel").lower()])} if m.group("rel") else {}
        named = MONTHS_EN[m.group("mo").lower()] if m.group("mo") else None
        year = int(m.group("y")) if m.group("y") else None
        out.append(Timex(m.start(), m.end(), year=year, month=named, relative=rel, month_end=True, confidence=0.9))
    for m in _EN_YEAR.finditer(text):
        out.append(Timex(m.start("y"), m.end("y"), year=int(m.group("y")), grain="year", confidence=0.85))
    return out


def _clock_then_day(points: list[Timex], text: str) -> list[Timex]:
    """A clock time said before its day is one point: "half past two today", "3pm yesterday", "9am on Monday"."""
    out: list[Timex] = []
    for t in points:
        prev = out[-1] if out else None
        if (
            prev is not None
            and prev.hour is not None
            and _no_day(prev)
            and t.hour is None
            and not _no_day(t)
            and re.fullmatch(r"\s(?:on\s)?", text[prev.end : t.start], re.IGNORECASE)
        ):
            out[-1] = replace(t, start=prev.start, hour=prev.hour, minute=prev.minute, grain="minute")
            continue
        out.append(t)
    return out


def _no_day(t: Timex) -> bool:
    return t.year is None and t.month is None and t.day is None and not t.relative and t.weekday is None


def _en_clock(m: re.Match[str], part: str | None = None) -> tuple[int, int]:
    """Hour and minute of a matched :data:`_EN_CLOCK` (3pm, 15:30, noon, half past two); ``part``: the part of the
    day said with its day ("this evening at half past seven")."""
    g = m.group
    if g("noon"):
        return (12, 0) if g("noon").lower() == "noon" else (0, 0)
    if g("h2"):
        return int(g("h2")), int(g("mi2"))
    if g("h3"):  # at 7.45 said with "last night": 19:45
        return _hour_for_part(int(g("h3")), part), int(g("mi3"))
    if g("wclock"):
        return _en_word_clock(m, part)
    if g("sh"):  # at two thirty: the afternoon, as a clock said in words is, unless the words say otherwise
        hour, when = _EN_HOURS[g("sh").lower()], (g("sap") or part or "").lower()
        pm = hour < 12 and (when.startswith(("p", "afternoon", "evening", "night")) or (not when and hour <= 6))
        return hour % 12 + (12 if pm else 0), _EN_SPOKEN_MINUTES[g("sm").lower()]
    hour = int(g("h")) % 12 + (12 if g("ap").lower().startswith("p") else 0)
    return hour, int(g("mi") or 0)


def _en_word_clock(m: re.Match[str], part: str | None) -> tuple[int, int]:
    """A clock said in words: "half past two" (14:30), "quarter to five", "ten o'clock in the morning".

    Without am / pm or a part of the day, an hour from 1 to 6 is the afternoon: "half past two" is when shops and
    clinics are open, not the middle of the night.
    """
    g = m.group
    word = (g("wh") or g("oh")).lower()
    hour = _EN_HOURS[word] if word in _EN_HOURS else int(word)
    minute = 0
    if g("wm"):
        said = g("wm").lower()
        minute = _EN_CLOCK_MINUTES[said] if said in _EN_CLOCK_MINUTES else int(said)
    elif g("wq"):  # a quarter to five: 4:45
        hour, minute = hour - 1 if hour > 1 else 12, 45
    when = (g("wap") or g("wpart") or part or "").lower()
    if when.startswith(("p", "in the afternoon", "in the evening", "at night", "afternoon", "evening", "night")):
        afternoon = hour < 12
    elif when:  # am, in the morning
        afternoon = False
    else:
        afternoon = 1 <= hour <= 6
    return hour % 12 + (12 if afternoon else 0), minute


def _en_point(m: re.Match[str], day_first: bool = False) -> Timex | None:
    year = month = day = None
    rel: dict[str, float] = {}
    weekday = None
    grain = "day"
    part = None
    before_today = False
    g = m.group
    if g("ymd"):
        year, month, day = int(g("y1")), int(g("m1")), int(g("d1"))
    elif g("us") or g("dmy"):
        first, second = (int(g("m3")), int(g("d3"))) if g("us") else (int(g("d7")), int(g("m7")))
        year = int(g("y3") or g("y7"))
        # month first (the US) unless the message names another country or a number cannot be a month
        month, day = (second, first) if first > 12 or (day_first and second <= 12) else (first, second)
        if year < 100:
            year += 2000
    elif g("onmd") and g("d9b"):
        month, day = int(g("m9b")), int(g("d9b"))
    elif g("onmd"):
        first, second = int(g("m9")), int(g("d9"))
        month, day = (second, first) if day_first and second <= 12 else (first, second)
    elif g("md"):
        month, day = MONTHS_EN[g("mn").lower()], int(g("d4"))
        year = int(g("y4")) if g("y4") else None
    elif g("dm"):
        month, day = MONTHS_EN[g("mn5").lower()], int(g("d5"))
        year = int(g("y5")) if g("y5") else None
    elif g("rel"):
        word = g("rel").lower()
        rel["days"] = REL_DAYS[word]
        part = (g("relpart") or "").lower() or None
        if word.endswith("night"):
            part = "night"
    elif g("week"):
        weekday = WEEKDAYS[g("wd").lower()]
        if g("wp").lower() == "last":  # "last Friday": the latest Friday before today (not last calendar week's)
            before_today = True
        else:
            rel["weeks"] = WEEK_PREFIX[g("wp").lower()]
    elif g("bwd"):
        weekday = WEEKDAYS[g("bw").lower()]
    elif g("unitrel"):
        unit = g("uu").lower()
        if unit == "weekend":  # last weekend: the ISO week it is in (guideline), like 上周末
            unit = "week"
        rel[unit + "s"] = WEEK_PREFIX[g("up").lower()]
        grain = unit
    elif g("ago"):
        n = parse_en_number(g("an"))
        unit = UNITS.get(g("au").lower())
        if n is None or unit is None:
            return None
        if unit == "F":  # a fortnight ago: 14 days
            n, unit = n * 14, "D"
        rel[_relative_key(unit)] = -n if g("adir").lower() == "ago" else n
        grain = "minute" if unit in ("H", "MIN", "S") else "day"
    hour = minute = None
    if g("clock"):
        hour, minute = _en_clock(m, part)
        grain = "minute"
    elif part is not None:
        grain = "day"
    if (month is not None and not 1 <= month <= 12) or (day is not None and not 1 <= day <= 31):
        return None
    clock_second = int(g("s2")) if g("clock") and g("s2") else None  # 2026-07-07 21:14:52 pasted from an app
    return Timex(0, 0, year, month, day, rel, weekday, grain, hour, minute, clock_second, before_today=before_today)


# -- resolution -------------------------------------------------------------------------------------------
def _add_months(d: date, months: int) -> date:
    y, m = divmod(d.year * 12 + d.month - 1 + months, 12)
    return date(y, m + 1, min(d.day, calendar.monthrange(y, m + 1)[1]))


def _unresolved(t: Timex) -> dict[str, Any]:
    out: dict[str, Any] = {"value": None}
    if t.relative:
        out["relative"] = {k: (int(v) if v == int(v) else v) for k, v in t.relative.items()}
    if t.weekday is not None:
        out["weekday"] = t.weekday
    if t.month is not None and t.nth is None:
        out["date"] = f"--{t.month:02d}" + (f"-{t.day:02d}" if t.day else "")
    elif t.day is not None and t.month is None:
        out["date"] = f"---{t.day:02d}"
    if t.month_end:
        out["month_end"] = True
    if t.hour is not None:
        out["time"] = f"{t.hour:02d}:{t.minute or 0:02d}"
    out["grain"] = t.grain
    return out


def _resolve(t: Timex, anchor: datetime | None) -> dict[str, Any]:
    complete = t.year is not None and t.month is not None and t.day is not None and not t.relative
    if anchor is None and not complete:
        return _unresolved(t)
    try:
        return _resolve_with(t, anchor)
    except (ValueError, OverflowError):  # 2月30日 and friends; an anchor near year 1 or 9999 moved past it
        return {"value": None, "grain": t.grain}


def _resolve_with(t: Timex, anchor: datetime | None) -> dict[str, Any]:
    rel = t.relative
    if anchor is None:  # complete absolute date
        assert t.year is not None and t.month is not None and t.day is not None
        d = date(t.year, t.month, t.day)
        return _point(d, t, None)
    today = anchor.date()
    if "hours" in rel or "minutes" in rel or "seconds" in rel:
        delta = timedelta(hours=rel.get("hours", 0), minutes=rel.get("minutes", 0), seconds=rel.get("seconds", 0))
        moment = (anchor + delta).replace(second=0, microsecond=0)
        return {"value": moment.isoformat(), "grain": "minute"}
    if t.grain == "week":
        monday = today - timedelta(days=today.weekday()) + timedelta(weeks=rel.get("weeks", 0))
        iso = monday.isocalendar()
        return {"value": f"{iso[0]}-W{iso[1]:02d}", "grain": "week"}
    if t.grain == "year" or (t.grain != "month" and "years" in rel and t.month is None and t.lunar is None):
        year = t.year if t.year is not None else _iso_year(today.year + int(rel.get("years", 0)))
        return {"value": f"{year:04d}", "grain": "year"}
    if t.lunar is not None:  # 中秋节: this year's, unless over a month ahead (then last year's)
        dates = LUNAR[t.lunar]
        year = today.year + int(rel.get("years", 0))
        if str(year) not in dates:
            raise ValueError(f"no {t.lunar} date for {year}")
        offset = timedelta(days=t.lunar_offset)
        d = date(year, *dates[str(year)]) + offset
        if "years" not in rel and d > today + timedelta(days=31):
            if str(year - 1) not in dates:
                raise ValueError(f"no {t.lunar} date for {year - 1}")
            d = date(year - 1, *dates[str(year - 1)]) + offset
        return _point(d, t, anchor)
    if t.month is not None:
        year = t.year if t.year is not None else today.year + int(rel.get("years", 0))
        # a date without a year: the past, within a month; after 改到 / 预约 (t.ahead) the anchor's year
        guessed = t.year is None and "years" not in rel and not t.ahead
        if t.grain == "month" and t.day is None:
            if guessed and date(_iso_year(year), t.month, 1) > today + timedelta(days=31):
                year -= 1
            return {"value": f"{_iso_year(year):04d}-{t.month:02d}", "grain": "month"}
        d = _month_day(year, t)
        if guessed and d > today + timedelta(days=31):
            d = _month_day(year - 1, t)
        return _point(d, t, anchor)
    if t.month_end:  # 月底 / 上个月底: the last day of that month
        first = _add_months(today.replace(day=1), int(rel.get("months", 0)))
        return _point(first.replace(day=calendar.monthrange(first.year, first.month)[1]), t, anchor)
    if t.day is not None:  # 12号 / 上个月20号
        first = _add_months(today.replace(day=1), int(rel.get("months", 0)))
        if "months" in rel:
            return _point(first.replace(day=t.day), t, anchor)
        # 12号 alone: this month's, unless that is over a week ahead or does not exist (31号 in June)
        if t.day <= calendar.monthrange(first.year, first.month)[1] and (
            t.ahead or first.replace(day=t.day) <= today + timedelta(days=7)
        ):
            return _point(first.replace(day=t.day), t, anchor)
        return _point(_add_months(first, -1).replace(day=t.day), t, anchor)
    if t.grain == "month":
        first = _add_months(today.replace(day=1), int(rel.get("months", 0)))
        return {"value": f"{first.year:04d}-{first.month:02d}", "grain": "month"}
    d = today
    if "days" in rel:
        d = today + timedelta(days=rel["days"])
    if "weeks" in rel and t.weekday is None:
        d = today + timedelta(days=7 * rel["weeks"])
    if "months" in rel:
        d = _add_months(today, int(rel["months"]))
    if "years" in rel:
        d = _add_months(today, 12 * int(rel["years"]))
    if t.weekday is not None:
        if t.before_today:
            d = today - timedelta(days=(today.isoweekday() - t.weekday - 1) % 7 + 1)
        elif "weeks" in rel:
            d = today - timedelta(days=today.weekday()) + timedelta(days=7 * int(rel["weeks"]) + t.weekday - 1)
        else:  # 周五 alone: the most recent Friday, today included
            d = today - timedelta(days=(today.weekday() + 1 - t.weekday) % 7)
    return _point(d, t, anchor)


def _month_day(year: int, t: Timex) -> date:
    """The date of ``t`` (a month and day, or a festival on the n-th weekday of its month) in ``year``."""
    assert t.month is not None
    if t.month_end:  # 3月底
        return date(_iso_year(year), t.month, calendar.monthrange(_iso_year(year), t.month)[1])
    if t.nth is None:
        return date(_iso_year(year), t.month, t.day or 1)
    month, weekday, n, offset = t.nth
    first = date(_iso_year(year), month, 1)
    return first + timedelta(days=(weekday - first.isoweekday()) % 7 + 7 * (n - 1) + offset)


def _iso_year(year: int) -> int:
    """Years a ``date`` can hold (1-9999); others resolve to ``value: null`` like 2月30日."""
    if not MINYEAR <= year <= MAXYEAR:
        raise ValueError(f"year {year} out of range")
    return year


def _point(d: date, t: Timex, anchor: datetime | None) -> dict[str, Any]:
    if t.hour is None:
        return {"value": d.isoformat(), "grain": "day"}
    moment = datetime(d.year, d.month, d.day, t.hour, t.minute or 0, t.second or 0)
    if anchor is not None and anchor.tzinfo is not None:
        moment = moment.replace(tzinfo=anchor.tzinfo)
    return {"value": moment.isoformat(), "grain": "minute" if t.second is None else "second"}
