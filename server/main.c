/* placeholder until the HTTP front end lands: replaced, not kept */
int main(void) { return 1; }
