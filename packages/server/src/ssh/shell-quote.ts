// POSIX shell quoting for argv sent over SSH: the remote shell must see each word as one literal word (shared with the client's hints).
export { quoteArgv, quoteWord } from '@egress/core/shell-quote';
