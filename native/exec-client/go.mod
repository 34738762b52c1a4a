module rmount/exec-client

go 1.19
