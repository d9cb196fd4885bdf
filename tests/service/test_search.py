"""The one fuzzy search of every list (datasets, jobs, parameter sets, preset models)."""

from ytung_service import search

NAMES = ["digits_cnn", "flowers-102", "Cats_and_Dogs", "coco2017"]


def names(query, cutoff=search.CUTOFF):
    return search.rank(NAMES, query, lambda n: (n,), cutoff)


def test_no_query_keeps_everything_in_order():
    assert names("") == NAMES
    assert names(None) == NAMES
    assert names("   ") == NAMES


def test_abbreviations_and_typos_both_match():
    assert names("dcnn") == ["digits_cnn"]  # every character, in order
    assert names("flwers")[0] == "flowers-102"  # a typo
    assert names("CATS") == ["Cats_and_Dogs"]  # case-insensitive
    assert names("zzzzqqq") == []


def test_the_name_outranks_other_fields():
    items = [("alpha", "about cats"), ("cats", ""), ("cat_pictures", "")]
    ranked = search.rank(items, "cats", lambda i: i)
    assert ranked[0] == ("cats", "")  # the whole name
    assert ranked.index(("alpha", "about cats")) > 0  # the description only


def test_scores_are_ordered_by_kind_of_match():
    exact = search.score("cnn", ["cnn"])
    in_name = search.score("cnn", ["digits_cnn"])
    in_description = search.score("cnn", ["x", "a cnn"])
    abbreviation = search.score("dcn", ["digits_cnn"])
    similar = search.score("digitz", ["digits"])
    assert exact > in_name > in_description > abbreviation > similar > 0


def test_long_queries_are_cut():
    # similarity costs length × length: only the first QUERY_MAX characters are scored
    head = "x" * search.QUERY_MAX
    assert search.score(head + "digits_cnn", ["digits_cnn"]) == search.score(head, ["digits_cnn"])
    assert search.rank(NAMES, "x" * 100_000, lambda n: (n,)) == []


def test_letters_in_order_in_a_description_are_no_match():
    items = [("yolo_det", "detects flowers, weeds and other objects"), ("flowers-102", "")]
    assert search.rank(items, "flwoers", lambda i: i)[0] == ("flowers-102", "")
    assert search.score("dcnn", ["x", "digits_cnn"]) < search.CUTOFF


def test_a_typo_of_one_word_of_the_name_matches():
    # "cnnd" is not an abbreviation of digits_cnn, but a typo of its word "cnn"
    assert names("cnnd") == ["digits_cnn"]
    assert names("resnet") == []
