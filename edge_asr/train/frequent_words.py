"""Frequent English words, the factory's widest layer of `_unknown_` words.

188 words from wordfreq 3.1.1's `top_n_list("en", 5000)` (letters only, two or more), in its
order: its first 295 such words, less those the factory's own lists already have and those that
are, or sound like (espeak-ng, en-us and en-gb), one of the default commands.
wordfreq is not needed at run or train time: this list is all the factory takes from it.

Data source and licence: wordfreq by Robyn Speer (https://github.com/rspeer/wordfreq), whose word
frequency data is distributed under the Creative Commons Attribution-ShareAlike 4.0 licence
(https://creativecommons.org/licenses/by-sa/4.0/); this word list is derived from it and is shared
under the same licence. wordfreq's data draws on Google Books Ngrams
(http://books.google.com/ngrams), Wikipedia, SUBTLEX, the Leeds Internet Corpus, ParaCrawl and
other sources credited in its README.
"""

# fmt: off
FREQUENT_WORDS: tuple[str, ...] = (
    "is", "you", "it", "was", "be", "as", "are", "at", "he", "not", "by", "but", "my", "or",
    "we", "all", "so", "his", "me", "can", "out", "has", "more", "were", "who", "had", "her",
    "get", "been", "she", "how", "our", "us", "said", "much", "very", "where", "should", "may",
    "here", "need", "really", "did", "years", "being", "going", "before", "why", "made",
    "still", "got", "many", "those", "life", "say", "world", "great", "through", "last",
    "while", "best", "such", "love", "man", "home", "long", "something", "same", "used", "both",
    "every", "am", "part", "state", "around", "between", "better", "find", "help", "high",
    "old", "since", "another", "does", "things", "under", "during", "game", "thing", "place",
    "school", "again", "next", "each", "mr", "without", "against", "end", "found", "must",
    "show", "feel", "sure", "team", "ever", "family", "keep", "might", "put", "money", "second",
    "someone", "away", "days", "lot", "name", "until", "company", "doing", "few", "let", "real",
    "called", "different", "having", "set", "thought", "however", "getting", "god",
    "government", "group", "looking", "public", "women", "business", "care", "start", "times",
    "week", "already", "anything", "case", "nothing", "person", "change", "enough",
    "everything", "full", "live", "making", "point", "read", "told", "bad", "hard", "mean",
    "once", "support", "tell", "including", "power", "seen", "states", "based", "believe",
    "call", "head", "men", "national", "took", "came", "far", "job", "side", "though", "try",
    "went", "actually", "american", "order", "party", "says", "service", "country", "season",
    "shit", "thank",
)
# fmt: on
