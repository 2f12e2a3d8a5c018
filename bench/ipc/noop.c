/* The floor of the spawn benchmark: a statically linked C program that does nothing. */
int main(void) { return 0; }
