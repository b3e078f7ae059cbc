"""The world's countries by their usual English names (and common short forms), for questions
that ask "which country" or "what nation": the answer is one of these."""
from __future__ import annotations

import re

_LISTED = (
    "Afghanistan, Albania, Algeria, Andorra, Angola, Argentina, Armenia, Australia, Austria, "
    "Azerbaijan, Bahamas, Bahrain, Bangladesh, Barbados, Belarus, Belgium, Belize, Benin, Bhutan, "
    "Bolivia, Bosnia, Botswana, Brazil, Brunei, Bulgaria, Burkina Faso, Burundi, Cambodia, "
    "Cameroon, Canada, Chad, Chile, China, Colombia, Comoros, Congo, Costa Rica, Croatia, Cuba, "
    "Cyprus, Czech Republic, Czechia, Denmark, Djibouti, Dominica, Dominican Republic, Ecuador, "
    "Egypt, El Salvador, Eritrea, Estonia, Eswatini, Ethiopia, Fiji, Finland, France, Gabon, "
    "Gambia, Georgia, Germany, Ghana, Greece, Grenada, Guatemala, Guinea, Guyana, Haiti, "
    "Honduras, Hungary, Iceland, India, Indonesia, Iran, Iraq, Ireland, Israel, Italy, "
    "Ivory Coast, Jamaica, Japan, Jordan, Kazakhstan, Kenya, Kiribati, Kosovo, Kuwait, "
    "Kyrgyzstan, Laos, Latvia, Lebanon, Lesotho, Liberia, Libya, Liechtenstein, Lithuania, "
    "Luxembourg, Madagascar, Malawi, Malaysia, Maldives, Mali, Malta, Mauritania, Mauritius, "
    "Mexico, Micronesia, Moldova, Monaco, Mongolia, Montenegro, Morocco, Mozambique, Myanmar, "
    "Namibia, Nauru, Nepal, Netherlands, New Zealand, Nicaragua, Niger, Nigeria, North Korea, "
    "North Macedonia, Norway, Oman, Pakistan, Palau, Palestine, Panama, Papua New Guinea, "
    "Paraguay, Peru, Philippines, Poland, Portugal, Qatar, Romania, Russia, Rwanda, Samoa, "
    "San Marino, Saudi Arabia, Senegal, Serbia, Seychelles, Sierra Leone, Singapore, Slovakia, "
    "Slovenia, Somalia, South Africa, South Korea, South Sudan, Spain, Sri Lanka, Sudan, "
    "Suriname, Sweden, Switzerland, Syria, Taiwan, Tajikistan, Tanzania, Thailand, Togo, Tonga, "
    "Trinidad and Tobago, Tunisia, Turkey, Turkiye, Turkmenistan, Tuvalu, Uganda, Ukraine, "
    "United Arab Emirates, UAE, United Kingdom, Britain, UK, England, Scotland, Wales, Uruguay, "
    "United States, US, USA, America, Uzbekistan, Vanuatu, Vatican, Venezuela, Vietnam, Yemen, "
    "Zambia, Zimbabwe"
)
COUNTRIES = [name.strip() for name in _LISTED.split(",")]

_COUNTRY = re.compile(r"\b(" + "|".join(re.escape(n) for n in sorted(COUNTRIES, key=len,
                                                                        reverse=True)) + r")(?:n|an|ns|ans)?\b")


def countries_in(text: str) -> list[str]:
    """The country names a text holds, the longest at each place ("South Korea", not "Korea"),
    also in their adjective forms ("North Korean leader", "Russian tourists")."""
    return [m.group(1) for m in _COUNTRY.finditer(text)]
