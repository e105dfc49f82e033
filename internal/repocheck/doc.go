// Package repocheck holds tests of the repository itself, so `make test`
// catches what a newcomer would trip over on a fresh clone: a link in
// README.md, CHANGELOG.md or docs/ that is broken or leaves the repository,
// a document that cites an issue number, and Makefile targets that do not
// say what they do.
package repocheck
