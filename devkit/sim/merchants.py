"""What the simulated bank world knows: merchants of every demo category.

Each category lists national chains (printed with store numbers and a city),
online descriptors (printed with reference codes), the words independent local
merchants put in their names, the card processors those locals use, and its
relative frequency before and after the drift. The numbers are made up but
long-tailed like real card data: groceries and restaurants are common,
childcare and tuition rare, and EV charging all but absent until the drift.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Category:
    """One spending category of the demo task and the merchants that belong to it."""

    name: str
    weight: float
    brands: tuple[str, ...] = ()
    online: tuple[str, ...] = ()
    local: tuple[str, ...] = ()
    prefixes: tuple[str, ...] = ("",)
    drift_weight: float | None = None
    drift_brands: tuple[str, ...] = ()
    drift_online: tuple[str, ...] = ()

    def weight_at(self, drifted: bool) -> float:
        return self.drift_weight if drifted and self.drift_weight is not None else self.weight


SQ, TST, PP, POS, CHK = "SQ *", "TST* ", "PAYPAL *", "POS DEBIT ", "CHECKCARD "

CATEGORIES: tuple[Category, ...] = (
    Category("groceries", 12.0,
             brands=("KROGER", "SAFEWAY", "WHOLEFDS", "TRADER JOE S", "ALDI", "PUBLIX", "HEB", "WEGMANS",
                     "FOOD LION", "SPROUTS FARMERS MKT", "GIANT EAGLE", "MEIJER"),
             local=("MARKET", "GROCERY", "FARMERS MKT", "FRESH FOODS"), prefixes=("", POS, SQ)),
    Category("restaurants", 10.0,
             brands=("OLIVE GARDEN", "CHEESECAKE FACTORY", "APPLEBEES", "CHILIS", "RED LOBSTER", "PF CHANGS",
                     "TEXAS ROADHOUSE"),
             local=("BISTRO", "TRATTORIA", "GRILL", "KITCHEN", "TAQUERIA", "SUSHI", "RAMEN", "THAI CUISINE"),
             prefixes=(TST, SQ, "", TST)),
    Category("coffee_shops", 7.0,
             brands=("STARBUCKS", "DUTCH BROS", "PEETS COFFEE", "DUNKIN", "TIM HORTONS", "BLUE BOTTLE COFFEE",
                     "PHILZ COFFEE"),
             local=("COFFEE", "ROASTERS", "ESPRESSO", "CAFE"), prefixes=(SQ, SQ, "", TST)),
    Category("fast_food", 8.0,
             brands=("MCDONALD S", "BURGER KING", "TACO BELL", "WENDYS", "CHICK-FIL-A", "CHIPOTLE", "SUBWAY",
                     "POPEYES", "IN N OUT BURGER", "FIVE GUYS", "PANDA EXPRESS", "SONIC DRIVE IN"),
             local=("BURGERS", "HOT DOGS", "PIZZA BY THE SLICE"), prefixes=("", SQ)),
    Category("bars_nightlife", 2.0,
             brands=("BUFFALO WILD WINGS",),
             local=("TAVERN", "PUB", "BREWING CO", "TAPROOM", "COCKTAIL LOUNGE", "WINE BAR"), prefixes=(TST, SQ, "")),
    Category("food_delivery", 4.0,
             online=("DOORDASH*{name}", "UBER   EATS", "GRUBHUB*{name}", "POSTMATES", "INSTACART"),
             drift_weight=6.0, drift_online=("WONDER DELIVERY", "GOPUFF*ORDER")),
    Category("fuel", 7.0,
             brands=("SHELL OIL", "CHEVRON", "EXXONMOBIL", "BP", "MARATHON PETRO", "CIRCLE K",
                     "VALERO", "SPEEDWAY", "WAWA FUEL", "QUIKTRIP", "PHILLIPS 66"),
             local=("GAS", "FUEL STOP", "PETROLEUM"), prefixes=("", POS), drift_weight=3.0),
    Category("public_transit", 1.5,
             brands=("MTA*NYCT PAYGO", "BART-CLIPPER", "CTA VENTRA", "WMATA METRO", "SOUND TRANSIT", "MBTA"),
             online=("CLIPPER CARD*{ref}", "VENTRA*{ref}")),
    Category("rideshare_taxi", 4.0,
             online=("UBER   *TRIP", "UBER *TRIP HELP.UBER.COM", "LYFT   *RIDE {day}", "LYFT *RIDE",
                     "CURB MOBILITY", "YELLOW CAB"),
             local=("TAXI", "CAB CO", "LIMO"), prefixes=("", SQ)),
    Category("parking_tolls", 1.5,
             brands=("SP+ PARKING", "LAZ PARKING", "PARKWHIZ", "ABM PARKING"),
             online=("E-ZPASS*{ref}", "FASTRAK*{ref}", "PARKMOBILE*{ref}", "SUNPASS*{ref}"),
             local=("PARKING", "GARAGE")),
    Category("auto_maintenance", 0.8,
             brands=("JIFFY LUBE", "FIRESTONE", "VALVOLINE", "AUTOZONE", "OREILLY AUTO", "MIDAS", "PEP BOYS",
                     "DISCOUNT TIRE"),
             local=("AUTO REPAIR", "AUTO BODY", "TIRE & LUBE", "CAR WASH"), prefixes=("", SQ)),
    Category("airlines", 0.6,
             online=("DELTA AIR {ref}", "UNITED {ref}", "AMERICAN AIR{ref}", "SOUTHWES {ref}", "ALASKA AIR {ref}",
                     "JETBLUE {ref}", "SPIRIT AIRL {ref}")),
    Category("hotels_lodging", 0.6,
             brands=("MARRIOTT", "HILTON HOTELS", "HYATT", "HOLIDAY INN", "HAMPTON INN", "BEST WESTERN"),
             online=("AIRBNB * {ref}", "VRBO*{ref}", "EXPEDIA*HOTEL {ref}", "BOOKING.COM HOTEL")),
    Category("car_rental", 0.3,
             brands=("HERTZ RENT-A-CAR", "ENTERPRISE RENT-A-CAR", "AVIS RENT A CAR", "BUDGET RENT A CAR",
                     "NATIONAL CAR RENTAL"),
             online=("TURO INC* {ref}",)),
    Category("electronics", 1.2,
             brands=("BEST BUY", "APPLE STORE", "MICRO CENTER", "GAMESTOP ELECTRONICS"),
             online=("APPLE.COM/US", "NEWEGG INC", "B&H PHOTO 800-606-6969", "DELL.COM")),
    Category("clothing_apparel", 1.5,
             brands=("OLD NAVY", "GAP", "H&M", "ZARA USA", "UNIQLO", "NORDSTROM RACK", "TJ MAXX", "ROSS STORES",
                     "BURLINGTON"),
             online=("SHEIN.COM", "ASOS.COM"), local=("BOUTIQUE", "APPAREL", "THREADS"), prefixes=("", SQ)),
    Category("home_improvement", 1.5,
             brands=("THE HOME DEPOT", "LOWES", "ACE HARDWARE", "MENARDS", "HARBOR FREIGHT TOOLS",
                     "SHERWIN-WILLIAMS"),
             local=("HARDWARE", "LUMBER")),
    Category("department_stores", 3.5,
             brands=("TARGET", "WAL-MART", "WM SUPERCENTER", "COSTCO WHSE", "SAMS CLUB", "KOHLS", "MACYS",
                     "JCPENNEY")),
    Category("online_marketplace", 6.0,
             online=("AMZN MKTP US*{ref}", "AMAZON.COM*{ref}", "EBAY O*{ref}", "ETSY.COM - {name}",
                     "TEMU.COM", "WALMART.COM", "ALIEXPRESS")),
    Category("books_media", 0.4,
             brands=("BARNES & NOBLE", "HALF PRICE BOOKS"),
             online=("AUDIBLE*{ref}", "KINDLE SVCS*{ref}", "APPLE BOOKS"), local=("BOOKS", "BOOKSHOP", "RECORDS")),
    Category("sporting_goods", 0.4,
             brands=("DICKS SPORTING GOODS", "REI", "ACADEMY SPORTS", "BIG 5 SPORTING", "BASS PRO STORE"),
             local=("BIKE SHOP", "SURF SHOP", "OUTFITTERS")),
    Category("pharmacy", 3.0,
             brands=("CVS/PHARMACY", "WALGREENS", "RITE AID", "DUANE READE"),
             local=("PHARMACY", "APOTHECARY", "DRUG"), prefixes=("",)),
    Category("medical_services", 0.8,
             brands=("QUEST DIAGNOSTICS", "LABCORP", "CVS MINUTECLINIC", "KAISER PERMANENTE"),
             local=("MEDICAL GROUP", "URGENT CARE", "PEDIATRICS", "PHYSICAL THERAPY"), prefixes=("", PP)),
    Category("dental_vision", 0.3,
             brands=("ASPEN DENTAL", "WARBY PARKER", "LENSCRAFTERS", "PEARLE VISION", "WESTERN DENTAL"),
             local=("DENTAL", "ORTHODONTICS", "OPTOMETRY", "EYE CARE"), prefixes=("", SQ)),
    Category("fitness_gyms", 1.0,
             brands=("PLANET FITNESS", "24 HOUR FITNESS", "LA FITNESS", "ANYTIME FITNESS", "EQUINOX",
                     "ORANGETHEORY"),
             online=("PELOTON* MEMBERSHIP", "CLASSPASS*{ref}"), local=("YOGA", "CROSSFIT", "PILATES")),
    Category("personal_care", 1.0,
             brands=("GREAT CLIPS", "SUPERCUTS", "ULTA BEAUTY", "SEPHORA", "EUROPEAN WAX CENTER"),
             local=("SALON", "BARBER", "NAIL SPA", "DAY SPA"), prefixes=(SQ, "")),
    Category("streaming_services", 3.0,
             online=("NETFLIX.COM", "SPOTIFY USA", "HULU {ref}", "DISNEY PLUS", "MAX.COM", "YOUTUBE TV",
                     "PARAMOUNT+", "APPLE.COM/BILL")),
    Category("software_subscriptions", 1.2,
             online=("ADOBE *CREATIVE CLD", "MICROSOFT*365", "DROPBOX*{ref}", "GOOGLE *WORKSPACE", "NOTION LABS",
                     "OPENAI *CHATGPT SUBSCR", "GITHUB INC", "ZOOM.US")),
    Category("mobile_phone", 2.0,
             online=("VERIZON WRLS {ref}", "T-MOBILE*AUTOPAY", "AT&T*BILL PAYMENT", "MINT MOBILE", "CRICKET WIRELESS",
                     "GOOGLE *FI {ref}")),
    Category("internet_cable", 2.0,
             online=("COMCAST CABLE COMM", "XFINITY MOBILE", "SPECTRUM", "COX COMM", "FRONTIER COMM",
                     "STARLINK INTERNET", "GOOGLE FIBER")),
    Category("utilities_power", 2.5,
             online=("PG&E WEB ONLINE", "CON ED OF NY", "DUKE ENERGY", "GEORGIA POWER", "SEATTLE CITY LIGHT",
                     "CITY OF {city} WATER", "SOCALGAS", "XCEL ENERGY")),
    Category("insurance", 1.0,
             online=("GEICO *AUTO", "STATE FARM RO 27 SFPP", "PROGRESSIVE *INS", "ALLSTATE INS", "LEMONADE INS",
                     "USAA P&C EXT AUTOPAY")),
    Category("rent_mortgage", 0.8,
             online=("{name} APTS RENT", "BILT RENT", "ROCKET MORTGAGE", "WELLS FARGO HOME MTG",
                     "ZILLOW RENT PMT", "APPFOLIO RENT {ref}")),
    Category("education_tuition", 0.15,
             online=("UNIV OF {city} TUITION", "COURSERA.ORG", "UDEMY {ref}", "KHAN ACADEMY", "STATE COLLEGE BURSAR"),
             local=("MONTESSORI ACADEMY", "LEARNING CENTER")),
    Category("childcare", 0.2,
             brands=("KINDERCARE", "BRIGHT HORIZONS", "GODDARD SCHOOL"),
             online=("CARE.COM {ref}", "BRIGHTWHEEL* {name}"), local=("DAYCARE", "CHILD CARE", "PRESCHOOL")),
    Category("pet_care", 0.5,
             brands=("PETSMART", "PETCO", "BANFIELD PET HOSP", "VCA ANIMAL HOSP"),
             online=("CHEWY.COM", "ROVER.COM*{ref}"), local=("VETERINARY", "PET GROOMING", "DOG DAYCARE")),
    Category("charity_donations", 0.25,
             online=("AMERICAN RED CROSS", "UNICEF USA", "GOFUNDME {person}", "WIKIMEDIA", "DOCTORS W/O BORDERS",
                     "PP*GIVEFUND {ref}")),
    Category("gaming", 0.5,
             online=("STEAMGAMES.COM {ref}", "PLAYSTATION NETWORK", "XBOX LIVE", "NINTENDO CA{ref}",
                     "ROBLOX CORP", "EPIC GAMES STORE", "BLIZZARD ENT")),
    Category("entertainment_events", 0.6,
             brands=("AMC THEATRES", "REGAL CINEMAS", "DAVE & BUSTERS", "TOPGOLF"),
             online=("TICKETMASTER*{ref}", "STUBHUB*{ref}", "EVENTBRITE/{name}", "FANDANGO")),
    Category("cash_atm", 2.0,
             online=("ATM WITHDRAWAL {ref} {city}", "NON-CHASE ATM WITHDRAW", "ATM CASH {ref}", "CASH WITHDRAWAL")),
    Category("bank_fees", 0.6,
             online=("MONTHLY MAINTENANCE FEE", "OVERDRAFT FEE", "FOREIGN TRANSACTION FEE", "ATM FEE",
                     "WIRE TRANSFER FEE", "LATE PAYMENT FEE")),
    Category("transfers_p2p", 5.0,
             online=("ZELLE TO {person}", "VENMO *{person}", "CASH APP*{person}", "PAYPAL *{person} INST XFER",
                     "APPLE CASH SENT MONEY")),
    Category("ev_charging", 0.04,
             brands=("TESLA SUPERCHARGER", "ELECTRIFY AMERICA", "CHARGEPOINT", "EVGO"),
             drift_weight=20.0,
             drift_brands=("BLINK CHARGING", "EV CONNECT", "SHELL RECHARGE", "FLO EV CHARGING",
                           "IONNA CHARGING", "MERCEDES-BENZ HPC"),
             drift_online=("CHARGEPOINT*{ref}", "ELECTRIFY AMER*{ref}", "EVGO*SESSION {ref}")),
)
"""The 43 categories of ``[tasks.transactions]``, in the config's order."""

LOCAL_WORDS: tuple[str, ...] = (
    "BLUE DOOR", "MAPLE", "HARBOR", "SUNRISE", "GOLDEN GATE", "RIVERSIDE", "OLD TOWN", "CEDAR", "NORTHSIDE",
    "LUCKY", "THE CORNER", "MAIN ST", "IRON HORSE", "WILLOW", "SEVEN HILLS", "PARKSIDE", "LITTLE", "COPPER",
    "BLACKBIRD", "HIGHLAND", "BAYVIEW", "RED FOX", "SILVER LAKE", "ELM STREET", "UNION", "PINE RIDGE",
)
"""First words of independent merchants' names (``SQ *BLUE DOOR COFFEE``)."""

PEOPLE: tuple[str, ...] = (
    "J SMITH", "MARIA GARCIA", "D NGUYEN", "CHRIS LEE", "A PATEL", "SAM JOHNSON", "K WILLIAMS", "R BROWN",
    "TAYLOR KIM", "M RODRIGUEZ", "JORDAN DAVIS", "P MARTIN",
)

CITIES: tuple[tuple[str, str], ...] = (
    ("SEATTLE", "WA"), ("PORTLAND", "OR"), ("SAN FRANCISCO", "CA"), ("LOS ANGELES", "CA"), ("OAKLAND", "CA"),
    ("SAN DIEGO", "CA"), ("AUSTIN", "TX"), ("HOUSTON", "TX"), ("DALLAS", "TX"), ("DENVER", "CO"),
    ("CHICAGO", "IL"), ("MINNEAPOLIS", "MN"), ("NEW YORK", "NY"), ("BROOKLYN", "NY"), ("BOSTON", "MA"),
    ("PHILADELPHIA", "PA"), ("PITTSBURGH", "PA"), ("ATLANTA", "GA"), ("MIAMI", "FL"), ("ORLANDO", "FL"),
    ("PHOENIX", "AZ"), ("SALT LAKE CTY", "UT"), ("NASHVILLE", "TN"), ("CHARLOTTE", "NC"), ("RALEIGH", "NC"),
    ("COLUMBUS", "OH"), ("DETROIT", "MI"), ("KANSAS CITY", "MO"), ("LAS VEGAS", "NV"), ("WASHINGTON", "DC"),
)

DRIFT_PREFIXES: tuple[str, ...] = ("SP ", "KLARNA* ", "AFTERPAY* ", "APLPAY ")
"""Processor prefixes that only appear after the drift (new wallets and pay-later)."""

BY_NAME: dict[str, Category] = {c.name: c for c in CATEGORIES}
