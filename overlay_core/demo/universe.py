"""The demo firm's security universe: ETFs and funds for 16 asset classes, 142 US large-cap stocks.

Tickers are real symbols used as plain identifiers; names, prices and market caps are rounded,
illustrative figures (no claim about the real securities). What matters for the engine:

- `asset_class`: one of `ASSET_CLASSES` (the money-market funds are in `cash`, like `$CASH`);
- `wash_group`: funds tracking the same index share a group (they are *substantially identical*
  for the wash-sale rule), e.g. SPY/IVV/VOO and the VFIAX mutual fund (S&P 500); a total-market or
  CRSP large-cap fund is a different group, hence a **legal substitute** for harvesting;
- stocks carry a GICS-like `sector` and `tags` for screens (`fossil_fuels`, `tobacco`, `weapons`,
  `alcohol`, `gambling`, `coal`, `nuclear`).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import polars as pl

ASSET_CLASSES: tuple[str, ...] = (
    "us_large_cap",
    "us_mid_cap",
    "us_small_cap",
    "intl_developed",
    "emerging_markets",
    "reit",
    "commodities",
    "us_aggregate_bond",
    "investment_grade_corp",
    "treasury_short",
    "treasury_long",
    "tips",
    "municipal",
    "high_yield",
    "intl_bond",
    "cash",
)
EQUITY_CLASSES = frozenset({"us_large_cap", "us_mid_cap", "us_small_cap", "intl_developed", "emerging_markets", "reit"})

SECTORS: tuple[str, ...] = (
    "Information Technology",
    "Communication Services",
    "Consumer Discretionary",
    "Consumer Staples",
    "Energy",
    "Financials",
    "Health Care",
    "Industrials",
    "Materials",
    "Real Estate",
    "Utilities",
)
SCREEN_TAGS: tuple[str, ...] = ("fossil_fuels", "tobacco", "weapons", "alcohol", "gambling", "coal", "nuclear")

# (symbol, name, asset_class, type, wash_group, approx price USD, cost_bps)
_FUNDS: tuple[tuple[str, str, str, str, str, float, float], ...] = (
    # US large cap: three S&P 500 ETFs and the S&P 500 index mutual fund are one wash group
    ("SPY", "SPDR S&P 500 ETF", "us_large_cap", "etf", "sp500", 480.0, 1.0),
    ("IVV", "iShares Core S&P 500 ETF", "us_large_cap", "etf", "sp500", 482.0, 1.0),
    ("VOO", "Vanguard S&P 500 ETF", "us_large_cap", "etf", "sp500", 441.0, 1.0),
    ("VFIAX", "Vanguard 500 Index Admiral", "us_large_cap", "mutual_fund", "sp500", 443.0, 0.0),
    ("SCHX", "Schwab US Large-Cap ETF", "us_large_cap", "etf", "djus_large", 58.0, 1.5),
    ("VV", "Vanguard Large-Cap ETF", "us_large_cap", "etf", "crsp_large", 220.0, 1.5),
    ("IWB", "iShares Russell 1000 ETF", "us_large_cap", "etf", "russell_1000", 262.0, 1.5),
    ("VTI", "Vanguard Total Stock Market ETF", "us_large_cap", "etf", "crsp_total", 238.0, 1.0),
    ("ITOT", "iShares Core S&P Total US Stock Market ETF", "us_large_cap", "etf", "sp_total", 108.0, 1.5),
    ("SCHB", "Schwab US Broad Market ETF", "us_large_cap", "etf", "djus_broad", 56.0, 1.5),
    ("QQQ", "Invesco QQQ Trust", "us_large_cap", "etf", "nasdaq_100", 410.0, 1.0),
    ("QQQM", "Invesco Nasdaq 100 ETF", "us_large_cap", "etf", "nasdaq_100", 168.0, 1.5),
    ("ESGU", "iShares ESG Aware MSCI USA ETF", "us_large_cap", "etf", "msci_usa_esg_focus", 108.0, 2.0),
    ("SUSA", "iShares MSCI USA ESG Select ETF", "us_large_cap", "etf", "msci_usa_esg_select", 100.0, 3.0),
    ("ESGV", "Vanguard ESG US Stock ETF", "us_large_cap", "etf", "ftse_us_choice", 86.0, 2.0),
    ("VYM", "Vanguard High Dividend Yield ETF", "us_large_cap", "etf", "ftse_high_div", 112.0, 1.5),
    ("SCHD", "Schwab US Dividend Equity ETF", "us_large_cap", "etf", "dj_div_100", 76.0, 1.5),
    ("DVY", "iShares Select Dividend ETF", "us_large_cap", "etf", "djus_select_div", 118.0, 2.5),
    ("HDV", "iShares Core High Dividend ETF", "us_large_cap", "etf", "mstar_div_yield", 104.0, 2.5),
    ("DODGX", "Dodge & Cox Stock Fund", "us_large_cap", "mutual_fund", "dodgx", 240.0, 0.0),
    # US mid cap
    ("IJH", "iShares Core S&P Mid-Cap ETF", "us_mid_cap", "etf", "sp400", 56.0, 1.5),
    ("MDY", "SPDR S&P MidCap 400 ETF", "us_mid_cap", "etf", "sp400", 510.0, 1.5),
    ("SPMD", "SPDR Portfolio S&P 400 Mid Cap ETF", "us_mid_cap", "etf", "sp400", 48.0, 2.0),
    ("VO", "Vanguard Mid-Cap ETF", "us_mid_cap", "etf", "crsp_mid", 232.0, 1.5),
    ("IWR", "iShares Russell Mid-Cap ETF", "us_mid_cap", "etf", "russell_mid", 78.0, 2.0),
    # US small cap
    ("IWM", "iShares Russell 2000 ETF", "us_small_cap", "etf", "russell_2000", 198.0, 1.5),
    ("VTWO", "Vanguard Russell 2000 ETF", "us_small_cap", "etf", "russell_2000", 80.0, 2.5),
    ("IJR", "iShares Core S&P Small-Cap ETF", "us_small_cap", "etf", "sp600", 106.0, 2.0),
    ("SPSM", "SPDR Portfolio S&P 600 Small Cap ETF", "us_small_cap", "etf", "sp600", 42.0, 2.5),
    ("VB", "Vanguard Small-Cap ETF", "us_small_cap", "etf", "crsp_small", 212.0, 2.0),
    ("SCHA", "Schwab US Small-Cap ETF", "us_small_cap", "etf", "djus_small", 46.0, 2.5),
    # international developed
    ("EFA", "iShares MSCI EAFE ETF", "intl_developed", "etf", "msci_eafe", 76.0, 2.0),
    ("IEFA", "iShares Core MSCI EAFE ETF", "intl_developed", "etf", "msci_eafe_imi", 70.0, 2.0),
    ("VEA", "Vanguard FTSE Developed Markets ETF", "intl_developed", "etf", "ftse_dev_all_cap", 48.0, 2.0),
    ("SCHF", "Schwab International Equity ETF", "intl_developed", "etf", "ftse_dev_ex_us", 37.0, 2.5),
    ("SPDW", "SPDR Portfolio Developed World ex-US ETF", "intl_developed", "etf", "sp_dev_bmi", 34.0, 2.5),
    ("ESGD", "iShares ESG Aware MSCI EAFE ETF", "intl_developed", "etf", "msci_eafe_esg", 76.0, 3.0),
    # emerging markets
    ("EEM", "iShares MSCI Emerging Markets ETF", "emerging_markets", "etf", "msci_em", 41.0, 3.0),
    ("IEMG", "iShares Core MSCI Emerging Markets ETF", "emerging_markets", "etf", "msci_em_imi", 52.0, 3.0),
    ("VWO", "Vanguard FTSE Emerging Markets ETF", "emerging_markets", "etf", "ftse_em_all_cap", 42.0, 3.0),
    ("SCHE", "Schwab Emerging Markets Equity ETF", "emerging_markets", "etf", "ftse_em", 26.0, 4.0),
    ("SPEM", "SPDR Portfolio Emerging Markets ETF", "emerging_markets", "etf", "sp_em_bmi", 36.0, 4.0),
    ("ESGE", "iShares ESG Aware MSCI EM ETF", "emerging_markets", "etf", "msci_em_esg", 33.0, 4.0),
    # real estate
    ("VNQ", "Vanguard Real Estate ETF", "reit", "etf", "msci_re_imi", 86.0, 2.0),
    ("SCHH", "Schwab US REIT ETF", "reit", "etf", "djus_reit", 21.0, 3.0),
    ("IYR", "iShares US Real Estate ETF", "reit", "etf", "djus_real_estate", 90.0, 2.5),
    ("USRT", "iShares Core US REIT ETF", "reit", "etf", "ftse_nareit", 54.0, 3.0),
    # commodities (gold ETFs are one group)
    ("DBC", "Invesco DB Commodity Index Tracking Fund", "commodities", "etf", "dbiq_optimum_yield", 23.0, 4.0),
    ("PDBC", "Invesco Optimum Yield Diversified Commodity ETF", "commodities", "etf", "dbiq_optimum_yield", 14.0, 4.0),
    ("GSG", "iShares S&P GSCI Commodity-Indexed Trust", "commodities", "etf", "sp_gsci", 21.0, 5.0),
    ("BCI", "abrdn Bloomberg All Commodity Strategy ETF", "commodities", "etf", "bbg_commodity", 20.0, 5.0),
    ("GLD", "SPDR Gold Shares", "commodities", "etf", "gold", 190.0, 1.5),
    ("IAU", "iShares Gold Trust", "commodities", "etf", "gold", 38.0, 2.0),
    # US aggregate bonds (AGG, SCHZ and SPAB track the same index; BND and VBTLX the float-adjusted one)
    ("AGG", "iShares Core US Aggregate Bond ETF", "us_aggregate_bond", "etf", "bbg_us_agg", 98.0, 1.0),
    ("SCHZ", "Schwab US Aggregate Bond ETF", "us_aggregate_bond", "etf", "bbg_us_agg", 46.0, 2.0),
    ("SPAB", "SPDR Portfolio Aggregate Bond ETF", "us_aggregate_bond", "etf", "bbg_us_agg", 25.0, 2.0),
    ("BND", "Vanguard Total Bond Market ETF", "us_aggregate_bond", "etf", "bbg_us_agg_float_adj", 72.0, 1.0),
    ("VBTLX", "Vanguard Total Bond Market Index Admiral", "us_aggregate_bond", "mutual_fund", "bbg_us_agg_float_adj", 9.7, 0.0),
    ("IUSB", "iShares Core Total USD Bond Market ETF", "us_aggregate_bond", "etf", "bbg_us_universal", 45.0, 2.0),
    ("EAGG", "iShares ESG Aware US Aggregate Bond ETF", "us_aggregate_bond", "etf", "bbg_msci_agg_esg", 46.0, 3.0),
    # investment-grade corporates
    ("LQD", "iShares iBoxx $ Investment Grade Corporate Bond ETF", "investment_grade_corp", "etf", "iboxx_ig", 108.0, 1.5),
    ("VCIT", "Vanguard Intermediate-Term Corporate Bond ETF", "investment_grade_corp", "etf", "bbg_corp_5_10", 80.0, 2.0),
    ("IGIB", "iShares 5-10 Year Investment Grade Corporate Bond ETF", "investment_grade_corp", "etf", "ice_corp_5_10", 51.0, 2.5),
    # treasuries, short
    ("SHY", "iShares 1-3 Year Treasury Bond ETF", "treasury_short", "etf", "ice_tsy_1_3", 82.0, 1.0),
    ("VGSH", "Vanguard Short-Term Treasury ETF", "treasury_short", "etf", "bbg_tsy_1_3", 58.0, 1.5),
    ("SCHO", "Schwab Short-Term US Treasury ETF", "treasury_short", "etf", "bbg_tsy_1_3", 48.0, 1.5),
    ("SPTS", "SPDR Portfolio Short Term Treasury ETF", "treasury_short", "etf", "bbg_tsy_1_3_sp", 29.0, 2.0),
    # treasuries, long
    ("TLT", "iShares 20+ Year Treasury Bond ETF", "treasury_long", "etf", "ice_tsy_20", 95.0, 1.0),
    ("VGLT", "Vanguard Long-Term Treasury ETF", "treasury_long", "etf", "bbg_tsy_long", 60.0, 2.0),
    ("SPTL", "SPDR Portfolio Long Term Treasury ETF", "treasury_long", "etf", "bbg_tsy_long", 28.0, 2.0),
    ("EDV", "Vanguard Extended Duration Treasury ETF", "treasury_long", "etf", "bbg_strips_20_30", 76.0, 2.5),
    # TIPS
    ("TIP", "iShares TIPS Bond ETF", "tips", "etf", "ice_tips", 107.0, 1.5),
    ("SCHP", "Schwab US TIPS ETF", "tips", "etf", "bbg_tips", 52.0, 1.5),
    ("SPIP", "SPDR Portfolio TIPS ETF", "tips", "etf", "bbg_tips", 25.0, 2.5),
    ("VTIP", "Vanguard Short-Term Inflation-Protected Securities ETF", "tips", "etf", "bbg_tips_0_5", 48.0, 2.0),
    # municipal
    ("MUB", "iShares National Muni Bond ETF", "municipal", "etf", "ice_muni_amt_free", 107.0, 2.0),
    ("VTEB", "Vanguard Tax-Exempt Bond ETF", "municipal", "etf", "sp_muni_amt_free", 50.0, 2.0),
    ("TFI", "SPDR Nuveen Bloomberg Municipal Bond ETF", "municipal", "etf", "bbg_muni_managed", 46.0, 3.0),
    ("SUB", "iShares Short-Term National Muni Bond ETF", "municipal", "etf", "ice_short_muni", 105.0, 2.5),
    ("VWIUX", "Vanguard Intermediate-Term Tax-Exempt Admiral", "municipal", "mutual_fund", "vwiux", 13.8, 0.0),
    # high yield
    ("HYG", "iShares iBoxx $ High Yield Corporate Bond ETF", "high_yield", "etf", "iboxx_hy", 77.0, 2.0),
    ("JNK", "SPDR Bloomberg High Yield Bond ETF", "high_yield", "etf", "bbg_hy_very_liquid", 94.0, 2.5),
    ("USHY", "iShares Broad USD High Yield Corporate Bond ETF", "high_yield", "etf", "ice_hy_constrained", 37.0, 2.5),
    ("SHYG", "iShares 0-5 Year High Yield Corporate Bond ETF", "high_yield", "etf", "ice_hy_0_5", 42.0, 3.0),
    # international bonds
    ("BNDX", "Vanguard Total International Bond ETF", "intl_bond", "etf", "bbg_global_ex_usd_hedged", 49.0, 2.0),
    ("IAGG", "iShares Core International Aggregate Bond ETF", "intl_bond", "etf", "bbg_global_agg_ex_usd", 50.0, 3.0),
    # cash equivalents (money-market funds, priced at 1.00)
    ("SWVXX", "Schwab Value Advantage Money Fund", "cash", "cash_equivalent", "swvxx", 1.0, 0.0),
    ("VMFXX", "Vanguard Federal Money Market Fund", "cash", "cash_equivalent", "vmfxx", 1.0, 0.0),
)

# (symbol, name, sector, approx market cap USD bn, approx price USD, tags)
_STOCKS: tuple[tuple[str, str, str, float, float, str], ...] = (
    ("AAPL", "Apple", "Information Technology", 3400, 190, ""),
    ("MSFT", "Microsoft", "Information Technology", 3100, 410, ""),
    ("NVDA", "NVIDIA", "Information Technology", 3000, 120, ""),
    ("AVGO", "Broadcom", "Information Technology", 800, 170, ""),
    ("ORCL", "Oracle", "Information Technology", 450, 160, ""),
    ("CRM", "Salesforce", "Information Technology", 280, 270, ""),
    ("ADBE", "Adobe", "Information Technology", 220, 500, ""),
    ("AMD", "Advanced Micro Devices", "Information Technology", 250, 150, ""),
    ("CSCO", "Cisco Systems", "Information Technology", 230, 55, ""),
    ("ACN", "Accenture", "Information Technology", 220, 350, ""),
    ("INTC", "Intel", "Information Technology", 100, 25, ""),
    ("IBM", "IBM", "Information Technology", 200, 210, ""),
    ("TXN", "Texas Instruments", "Information Technology", 180, 195, ""),
    ("QCOM", "Qualcomm", "Information Technology", 180, 165, ""),
    ("INTU", "Intuit", "Information Technology", 180, 640, ""),
    ("AMAT", "Applied Materials", "Information Technology", 150, 180, ""),
    ("NOW", "ServiceNow", "Information Technology", 190, 900, ""),
    ("MU", "Micron Technology", "Information Technology", 110, 100, ""),
    ("ADI", "Analog Devices", "Information Technology", 110, 225, ""),
    ("LRCX", "Lam Research", "Information Technology", 100, 78, ""),
    ("KLAC", "KLA", "Information Technology", 95, 700, ""),
    ("PANW", "Palo Alto Networks", "Information Technology", 120, 180, ""),
    ("GOOGL", "Alphabet", "Communication Services", 2000, 165, ""),
    ("META", "Meta Platforms", "Communication Services", 1400, 560, ""),
    ("NFLX", "Netflix", "Communication Services", 350, 800, ""),
    ("DIS", "Walt Disney", "Communication Services", 200, 100, ""),
    ("CMCSA", "Comcast", "Communication Services", 150, 40, ""),
    ("T", "AT&T", "Communication Services", 160, 22, ""),
    ("VZ", "Verizon", "Communication Services", 170, 41, ""),
    ("TMUS", "T-Mobile US", "Communication Services", 250, 220, ""),
    ("EA", "Electronic Arts", "Communication Services", 40, 150, ""),
    ("AMZN", "Amazon", "Consumer Discretionary", 2100, 195, ""),
    ("TSLA", "Tesla", "Consumer Discretionary", 1000, 300, ""),
    ("HD", "Home Depot", "Consumer Discretionary", 400, 390, ""),
    ("MCD", "McDonald's", "Consumer Discretionary", 210, 290, ""),
    ("NKE", "Nike", "Consumer Discretionary", 110, 75, ""),
    ("LOW", "Lowe's", "Consumer Discretionary", 140, 250, ""),
    ("SBUX", "Starbucks", "Consumer Discretionary", 100, 95, ""),
    ("BKNG", "Booking Holdings", "Consumer Discretionary", 160, 4800, ""),
    ("TJX", "TJX Companies", "Consumer Discretionary", 130, 120, ""),
    ("CMG", "Chipotle Mexican Grill", "Consumer Discretionary", 75, 55, ""),
    ("ORLY", "O'Reilly Automotive", "Consumer Discretionary", 75, 1200, ""),
    ("GM", "General Motors", "Consumer Discretionary", 55, 50, ""),
    ("F", "Ford Motor", "Consumer Discretionary", 40, 10, ""),
    ("LVS", "Las Vegas Sands", "Consumer Discretionary", 35, 48, "gambling"),
    ("MGM", "MGM Resorts", "Consumer Discretionary", 12, 38, "gambling"),
    ("WYNN", "Wynn Resorts", "Consumer Discretionary", 10, 90, "gambling"),
    ("WMT", "Walmart", "Consumer Staples", 700, 85, "alcohol"),
    ("PG", "Procter & Gamble", "Consumer Staples", 400, 165, ""),
    ("COST", "Costco", "Consumer Staples", 420, 900, "alcohol"),
    ("KO", "Coca-Cola", "Consumer Staples", 290, 65, ""),
    ("PEP", "PepsiCo", "Consumer Staples", 210, 155, ""),
    ("PM", "Philip Morris International", "Consumer Staples", 200, 125, "tobacco"),
    ("MO", "Altria", "Consumer Staples", 95, 55, "tobacco"),
    ("MDLZ", "Mondelez", "Consumer Staples", 90, 68, ""),
    ("CL", "Colgate-Palmolive", "Consumer Staples", 75, 92, ""),
    ("STZ", "Constellation Brands", "Consumer Staples", 45, 240, "alcohol"),
    ("BF.B", "Brown-Forman", "Consumer Staples", 18, 40, "alcohol"),
    ("TAP", "Molson Coors", "Consumer Staples", 12, 58, "alcohol"),
    ("KMB", "Kimberly-Clark", "Consumer Staples", 45, 135, ""),
    ("GIS", "General Mills", "Consumer Staples", 35, 63, ""),
    ("KR", "Kroger", "Consumer Staples", 45, 62, "alcohol;tobacco"),
    ("XOM", "Exxon Mobil", "Energy", 470, 115, "fossil_fuels"),
    ("CVX", "Chevron", "Energy", 270, 150, "fossil_fuels"),
    ("COP", "ConocoPhillips", "Energy", 120, 105, "fossil_fuels"),
    ("EOG", "EOG Resources", "Energy", 70, 125, "fossil_fuels"),
    ("SLB", "Schlumberger", "Energy", 60, 42, "fossil_fuels"),
    ("PSX", "Phillips 66", "Energy", 55, 130, "fossil_fuels"),
    ("MPC", "Marathon Petroleum", "Energy", 50, 160, "fossil_fuels"),
    ("OXY", "Occidental Petroleum", "Energy", 45, 50, "fossil_fuels"),
    ("VLO", "Valero Energy", "Energy", 40, 130, "fossil_fuels"),
    ("KMI", "Kinder Morgan", "Energy", 60, 27, "fossil_fuels"),
    ("WMB", "Williams Companies", "Energy", 65, 53, "fossil_fuels"),
    ("HAL", "Halliburton", "Energy", 25, 28, "fossil_fuels"),
    ("BRK.B", "Berkshire Hathaway B", "Financials", 1000, 460, "fossil_fuels"),
    ("JPM", "JPMorgan Chase", "Financials", 650, 230, ""),
    ("V", "Visa", "Financials", 600, 300, ""),
    ("MA", "Mastercard", "Financials", 480, 510, ""),
    ("BAC", "Bank of America", "Financials", 320, 42, ""),
    ("WFC", "Wells Fargo", "Financials", 230, 70, ""),
    ("GS", "Goldman Sachs", "Financials", 170, 540, ""),
    ("MS", "Morgan Stanley", "Financials", 180, 120, ""),
    ("AXP", "American Express", "Financials", 200, 280, ""),
    ("SCHW", "Charles Schwab", "Financials", 140, 75, ""),
    ("BLK", "BlackRock", "Financials", 150, 980, ""),
    ("C", "Citigroup", "Financials", 140, 68, ""),
    ("SPGI", "S&P Global", "Financials", 160, 510, ""),
    ("PGR", "Progressive", "Financials", 150, 250, ""),
    ("CB", "Chubb", "Financials", 110, 280, ""),
    ("MMC", "Marsh McLennan", "Financials", 105, 220, ""),
    ("LLY", "Eli Lilly", "Health Care", 750, 800, ""),
    ("UNH", "UnitedHealth Group", "Health Care", 450, 500, ""),
    ("JNJ", "Johnson & Johnson", "Health Care", 380, 155, ""),
    ("ABBV", "AbbVie", "Health Care", 320, 180, ""),
    ("MRK", "Merck", "Health Care", 250, 100, ""),
    ("TMO", "Thermo Fisher Scientific", "Health Care", 190, 520, ""),
    ("ABT", "Abbott Laboratories", "Health Care", 200, 115, ""),
    ("PFE", "Pfizer", "Health Care", 150, 26, ""),
    ("AMGN", "Amgen", "Health Care", 160, 300, ""),
    ("DHR", "Danaher", "Health Care", 150, 235, ""),
    ("ISRG", "Intuitive Surgical", "Health Care", 190, 520, ""),
    ("BMY", "Bristol-Myers Squibb", "Health Care", 110, 55, ""),
    ("GILD", "Gilead Sciences", "Health Care", 120, 95, ""),
    ("CVS", "CVS Health", "Health Care", 80, 60, "tobacco"),
    ("MDT", "Medtronic", "Health Care", 110, 85, ""),
    ("VRTX", "Vertex Pharmaceuticals", "Health Care", 120, 470, ""),
    ("GE", "GE Aerospace", "Industrials", 200, 185, "weapons"),
    ("CAT", "Caterpillar", "Industrials", 180, 370, ""),
    ("RTX", "RTX", "Industrials", 200, 120, "weapons"),
    ("HON", "Honeywell", "Industrials", 140, 215, "weapons"),
    ("UNP", "Union Pacific", "Industrials", 140, 235, "coal"),
    ("BA", "Boeing", "Industrials", 120, 165, "weapons"),
    ("LMT", "Lockheed Martin", "Industrials", 110, 480, "weapons"),
    ("DE", "Deere", "Industrials", 120, 430, ""),
    ("UPS", "United Parcel Service", "Industrials", 100, 130, ""),
    ("NOC", "Northrop Grumman", "Industrials", 75, 500, "weapons"),
    ("GD", "General Dynamics", "Industrials", 80, 290, "weapons"),
    ("LHX", "L3Harris Technologies", "Industrials", 45, 240, "weapons"),
    ("MMM", "3M", "Industrials", 80, 140, ""),
    ("ETN", "Eaton", "Industrials", 130, 330, ""),
    ("WM", "Waste Management", "Industrials", 90, 215, ""),
    ("LIN", "Linde", "Materials", 210, 450, ""),
    ("SHW", "Sherwin-Williams", "Materials", 90, 360, ""),
    ("APD", "Air Products", "Materials", 65, 300, ""),
    ("FCX", "Freeport-McMoRan", "Materials", 60, 45, ""),
    ("NEM", "Newmont", "Materials", 55, 48, ""),
    ("ECL", "Ecolab", "Materials", 70, 245, ""),
    ("DOW", "Dow", "Materials", 20, 30, "fossil_fuels"),
    ("NUE", "Nucor", "Materials", 30, 140, ""),
    ("PLD", "Prologis", "Real Estate", 100, 110, ""),
    ("AMT", "American Tower", "Real Estate", 90, 200, ""),
    ("EQIX", "Equinix", "Real Estate", 80, 850, ""),
    ("SPG", "Simon Property Group", "Real Estate", 60, 175, ""),
    ("PSA", "Public Storage", "Real Estate", 50, 300, ""),
    ("O", "Realty Income", "Real Estate", 50, 57, ""),
    ("NEE", "NextEra Energy", "Utilities", 150, 75, "nuclear"),
    ("SO", "Southern Company", "Utilities", 100, 88, "coal;fossil_fuels;nuclear"),
    ("DUK", "Duke Energy", "Utilities", 90, 110, "coal;fossil_fuels;nuclear"),
    ("D", "Dominion Energy", "Utilities", 50, 55, "fossil_fuels;nuclear"),
    ("AEP", "American Electric Power", "Utilities", 55, 100, "coal;fossil_fuels"),
    ("EXC", "Exelon", "Utilities", 45, 40, "nuclear"),
    ("SRE", "Sempra", "Utilities", 50, 80, "fossil_fuels"),
)


@dataclass(frozen=True)
class Universe:
    """The demo universe.

    Attributes
    ----------
    securities : the upload's `securities` table (contract columns only), one row per symbol.
    meta : symbol, start_price (USD, a plausible level for the first simulated day),
        market_cap (USD bn, stocks only; null for funds) — inputs of the models and the simulator.
    """

    securities: pl.DataFrame
    meta: pl.DataFrame

    def symbols(self, *, asset_class: str | None = None, type_: str | None = None) -> list[str]:
        df = self.securities
        if asset_class is not None:
            df = df.filter(pl.col("asset_class") == asset_class)
        if type_ is not None:
            df = df.filter(pl.col("type") == type_)
        return df["symbol"].to_list()


@lru_cache(maxsize=1)
def build_universe() -> Universe:
    """The demo universe (deterministic; no randomness).

    Returns
    -------
    Universe with 88 funds (82 ETFs, 4 mutual funds, 2 money-market funds) and 142 stocks (230 securities).
    """
    rows = []
    meta = []
    for sym, name, ac, typ, group, price, cost in _FUNDS:
        rows.append((sym, ac, typ, name, None, None, group, cost, None))
        meta.append((sym, price, None))
    for sym, name, sector, cap, price, tags in _STOCKS:
        rows.append((sym, "us_large_cap", "equity", name, sector, tags or None, None, 3.0 if cap >= 100 else 5.0, None))
        meta.append((sym, float(price), float(cap)))
    securities = pl.DataFrame(
        rows,
        schema={
            "symbol": pl.String,
            "asset_class": pl.String,
            "type": pl.String,
            "name": pl.String,
            "sector": pl.String,
            "tags": pl.String,
            "wash_group": pl.String,
            "cost_bps": pl.Float64,
            "trade_increment": pl.Float64,
        },
        orient="row",
    )
    meta_df = pl.DataFrame(meta, schema={"symbol": pl.String, "start_price": pl.Float64, "market_cap": pl.Float64}, orient="row")
    return Universe(securities=securities, meta=meta_df)


def legal_substitutes(securities: pl.DataFrame, symbol: str) -> list[str]:
    """Securities of the same asset class (and sector, for stocks) outside `symbol`'s wash group.

    Ordered as in `securities`; excludes cash-equivalents' own group only (a money-market fund's legal
    substitute is another money-market fund).
    """
    row = securities.filter(pl.col("symbol") == symbol).row(0, named=True)
    group = row["wash_group"] or symbol
    cond = (pl.col("asset_class") == row["asset_class"]) & (pl.coalesce("wash_group", "symbol") != group)
    cond = cond & (pl.col("type") == "equity") if row["type"] == "equity" else cond & (pl.col("type") != "equity")
    if row["type"] == "equity":
        cond = cond & (pl.col("sector") == row["sector"])
    return securities.filter(cond)["symbol"].to_list()
